"""Attention twins, PyTorch side. Twin of ``tf_impl/attention.py``: read them side by side.

Mask convention (the whole project): a boolean mask, True = attend / valid position, as in Keras.
Every forward takes ``return_intermediates``; when True it returns ``(outputs, intermediates)``
with the intermediates named as in ``twinmem.reference.attention``.

Precision (float32 and float64: every step in the dtype). In bfloat16 and float16 every tensor is
stored in the dtype and every step rounds its result to it, and both twins make the same rounding
choices, stated here rather than left to each framework: a matmul or tensordot multiplies its 16-bit
operands in float32 and rounds the float32 sum once (``core.matmul``); the softmax runs in float32
(scores upcast, weights rounded once); the fused kernel runs in float32 on the 16-bit q, k, v and
rounds its output once; elementwise steps (bias adds, tanh, the 1/sqrt(d_k) scale, itself the dtype's
sqrt(d_k)) round once each. Masked scores are the dtype's finite minimum, never -inf.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from torch_impl.core import Twin, check_tensors, known_values, matmul, tensordot, upcast, weight
from twinmem import checks
from twinmem.configs.attention import (
    AdditiveAttentionConfig,
    LuongAttentionConfig,
    MultiHeadAttentionConfig,
    ScaledDotProductAttentionConfig,
    check_cache_room,
    check_cache_size,
    check_query_key_value,
    check_query_values,
)


def masked_softmax(scores, mask):
    """Softmax over the last axis; masked positions get exactly zero weight, an all-masked row zeros.

    Masked scores become the dtype's most negative finite value, not -inf: exp() of it underflows to
    exactly 0 and an all-masked row never computes inf - inf = NaN. In bfloat16 and float16 the softmax
    runs in float32 (the scores upcast, the weights rounded once to the scores' dtype).
    """
    if mask is None:
        return torch.softmax(upcast(scores), dim=-1).to(scores.dtype)
    scores = torch.where(mask, scores, torch.finfo(scores.dtype).min)
    weights = torch.softmax(upcast(scores), dim=-1).to(scores.dtype)
    return torch.where(mask, weights, torch.zeros_like(weights))


def without_masked(x, keep):
    """x (..., T, d) with its masked positions (keep (..., T, 1) False) set to zero.

    Masked means no influence: a NaN or inf there would still reach the output as 0 * NaN = NaN (and
    the gradients through the scores' matmul). For finite inputs nothing changes: those positions
    get exactly zero weight.
    """
    # A 0-d zero of x's dtype: a Python scalar costs torch.where a wrapped scalar and its type promotion
    # (30 against 22 us at B1 T256 d64, where such steps are much of a call).
    return torch.where(keep, x, x.new_zeros(()))


def causal_mask(q_positions, k_positions):
    """(Tq, T) boolean, True where key position j <= query position i."""
    return k_positions[None, :] <= q_positions[:, None]


def keys_and_mask(k, v, mask, causal, q_len, q_positions=None):
    """The explicit path's first step: k, v zero at the key-padding mask's (..., 1, T) masked keys, and that
    mask joined with the causal one (queries are the last Tq positions, or at ``q_positions``)."""
    if mask is not None:
        k, v = without_masked(k, mask.transpose(-1, -2)), without_masked(v, mask.transpose(-1, -2))
    if causal:
        kv_len = k.shape[-2]
        if q_positions is None:
            q_positions = torch.arange(q_len, device=k.device) + (kv_len - q_len)
        c = causal_mask(q_positions, torch.arange(kv_len, device=k.device))
        mask = c if mask is None else torch.logical_and(mask, c)
    return k, v, mask


def scaled_dot_product(q, k, v, mask, causal, q_positions=None):
    """softmax(q k^T / sqrt(d_k)) v over any leading axes; queries are the last Tq positions."""
    k, v, mask = keys_and_mask(k, v, mask, causal, q.shape[-2], q_positions)
    # Divided by sqrt(d_k) as a tensor of q's dtype, as the TF twin: torch divides by a Python float as a
    # multiplication by its reciprocal in float32, another rounding than bfloat16 / bfloat16 (and TF's).
    scores = matmul(q, k.transpose(-1, -2)) / torch.sqrt(
        torch.tensor(q.shape[-1], dtype=q.dtype, device=q.device)
    )  # (..., Tq, T)
    attention_weights = masked_softmax(scores, mask)
    return matmul(attention_weights, v), attention_weights, scores


def queries_with_keys(mask, causal, q_len, q_positions=None):
    """(..., Tq, 1) True where a query keeps at least one key, read off the (..., 1, T) padding mask alone:
    a cumulative sum over T instead of a reduction of the joined (..., Tq, T) mask (0.5 ms at B8 T256)."""
    if not causal:
        return torch.any(mask, dim=-1, keepdim=True)  # (..., 1, 1)
    seen = torch.cumsum(mask, dim=-1) > 0  # (..., 1, T): a valid key at or before each position
    if q_positions is None:  # the last q_len positions
        return seen[..., mask.shape[-1] - q_len :].transpose(-1, -2)
    return seen[..., q_positions].transpose(-1, -2)


def additive_mask(mask, causal, q_len, kv_len, q_positions, like):
    """The fused kernel's mask as a bias of ``like``'s dtype: 0 where a query may attend, a quarter of the
    dtype's finite minimum at a padding-masked key, half of it where causality masks a key (at most three
    quarters in all: adding a score overflows to -inf only below a quarter of the minimum, and even then
    only if the whole row does). Causality weighs more than padding on purpose: a query whose keys are
    all masked then spreads its softmax over the padded keys at or before it, not over later valid ones,
    and with those keys' values zeroed its output is exactly zero (``fused_scaled_dot_product``)."""
    # Scalars as 0-d tensors of like's dtype: a Python float would make the where float32 (and float64's
    # minimum overflow to -inf there).
    lowest = torch.finfo(like.dtype).min / 4
    zero, masked = like.new_zeros(()), like.new_full((), lowest)
    bias = None if mask is None else torch.where(mask, zero, masked)  # (..., 1, T)
    if causal:
        if q_positions is None:  # the last q_len positions: a band, cheaper than comparing positions
            later = like.new_full((q_len, kv_len), 2 * lowest).triu_(kv_len - q_len + 1)
        else:
            later = torch.where(causal_mask(q_positions, torch.arange(kv_len, device=like.device)), zero, 2 * masked)
        bias = later if bias is None else bias + later  # (..., Tq, T)
    return bias


def fused_scaled_dot_product(q, k, v, mask, causal, q_positions=None, finite=False):
    """``scaled_dot_product`` on the framework's kernel (F.scaled_dot_product_attention): the output alone.

    The mask goes to the kernel as an additive bias (``additive_mask``), never as a boolean mask (which
    gives NaN on some backends for a query whose keys are all masked): such a query takes a softmax over
    finite values, all on padded keys, and its output must be zero, as the explicit path's zero weights
    give. With k and v zeroed at the padded keys it is, exactly, and passes no gradient back; with
    ``finite`` (k and v finite but not zero there) it is set to zero afterwards. Either way no masked key
    influences anything. In bfloat16 and float16 the kernel runs in float32 on the 16-bit q, k, v and its
    output is rounded once: each framework's 16-bit kernel has its own precision inside.
    """
    dtype, (q, k, v) = q.dtype, (upcast(x) for x in (q, k, v))
    # torch's CPU flash kernel takes (B, heads, T, d) only: 3-D inputs went to its math path, 2.5x slower
    # (B8 T256 d64: 4.7 against 1.9 ms). One head axis, removed again at the end.
    one_head = q.dim() == 3
    if one_head:
        q, k, v = q[:, None], k[:, None], v[:, None]
        mask = None if mask is None else mask[:, None]
    has_keys = None
    if causal and mask is None and q_positions is None and q.shape[-2] == k.shape[-2]:
        output = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # the kernel skips the masked blocks
    elif mask is None and not causal:
        output = F.scaled_dot_product_attention(q, k, v)
    else:
        if mask is not None and not finite:
            keep = mask.transpose(-1, -2)
            k, v = without_masked(k, keep), without_masked(v, keep)
        elif mask is not None:  # without a padding mask every query keeps key 0 (causal or not)
            has_keys = queries_with_keys(mask, causal, q.shape[-2], q_positions)
        bias = additive_mask(mask, causal, q.shape[-2], k.shape[-2], q_positions, q)
        output = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
    if has_keys is not None:
        output = torch.where(has_keys, output, output.new_zeros(()))
    return (output[:, 0] if one_head else output).to(dtype)


class AdditiveAttention(Twin):
    r"""Bahdanau additive attention, the seed article's ``Attention(units)`` (§5.2.1).

    .. math::
        e_{ij} = V^\top \tanh(W_1 q_i + b_1 + W_2 v_j + b_2) + b_V, \quad
        \alpha_{ij} = \mathrm{softmax}_j(e_{ij}), \quad c_i = \sum_j \alpha_{ij} v_j

    where the softmax runs over the value positions j that the mask keeps. B = batch, Tq = query
    steps, T = value steps, Dq/Dv = query/value features, U = ``units``.

    Departs from the seed: the weights come back as (B, T) (or (B, Tq, T)) instead of (B, T, 1), a
    query may have a time axis, and a padding mask is honoured. ``b_V`` is kept as the seed's
    ``Dense(1)`` has it; it shifts every score equally, so its gradient is zero.

    Args:
        config: ``AdditiveAttentionConfig`` (query_dim, value_dim, units).
        dtype: "float32", "float64", "bfloat16" or "float16" (precision: the module docstring).

    Call arguments:
        query: (B, Dq) or (B, Tq, Dq).
        values: (B, T, Dv).
        mask: optional bool (B, T), True = attend.

    Returns:
        context (B, Dv) or (B, Tq, Dv), attention_weights (B, T) or (B, Tq, T).
    """

    def __init__(self, config: AdditiveAttentionConfig, dtype: str = "float32"):
        super().__init__(dtype=dtype)
        self.config = c = config
        self.W1 = weight((c.query_dim, c.units), dtype)
        self.b1 = weight((c.units,), dtype, "zeros")
        self.W2 = weight((c.value_dim, c.units), dtype)
        self.b2 = weight((c.units,), dtype, "zeros")
        self.V = weight((c.units, 1), dtype)
        self.b_V = weight((1,), dtype, "zeros")

    def forward(self, query, values, mask=None, return_intermediates=False):
        check_tensors(query=query, values=values, mask=mask)
        check_query_values(self.config, query, values, mask, self.compute_dtype)
        values = values if mask is None else without_masked(values, mask[:, :, None])  # (B, T, Dv)
        q = query[:, None, :] if query.dim() == 2 else query  # (B, Tq, Dq)
        query_features = matmul(q, self.W1, self.b1)  # (B, Tq, U)
        value_features = matmul(values, self.W2, self.b2)  # (B, T, U)
        # tensordot, as the TF twin must (a oneDNN bug there); the same contraction either way.
        scores = tensordot(torch.tanh(query_features[:, :, None, :] + value_features[:, None, :, :]), self.V, self.b_V)[
            ..., 0
        ]  # (B, Tq, T)
        attention_weights = masked_softmax(scores, None if mask is None else mask[:, None, :])  # (B, Tq, T)
        context = matmul(attention_weights, values)  # (B, Tq, Dv)
        mids = {
            "query_features": query_features,
            "value_features": value_features,
            "scores": scores,
            "attention_weights": attention_weights,
        }
        if query.dim() == 2:
            context, attention_weights = context[:, 0], attention_weights[:, 0]
        outputs = (context, attention_weights)
        return (outputs, mids) if return_intermediates else outputs


class LuongAttention(Twin):
    r"""Luong (multiplicative) attention with ``dot``, ``general`` and ``concat`` scores.

    .. math::
        e_{ij} = \begin{cases} q_i^\top v_j & \text{dot} \\ q_i^\top W_a^\top v_j & \text{general} \\
        v_a^\top \tanh(W_a [q_i; v_j]) & \text{concat} \end{cases}, \quad
        \alpha_{ij} = \mathrm{softmax}_j(e_{ij}), \quad c_i = \sum_j \alpha_{ij} v_j

    where ``general`` stores W_a as (Dv, Dq) and ``concat`` as (Dq + Dv, U), query rows first.
    Letters as in ``AdditiveAttention``. The attentional state tanh(W_c [c; h]) of the paper belongs
    to the decoder that uses this layer, not to the layer.

    Call arguments and returns as ``AdditiveAttention``.
    """

    def __init__(self, config: LuongAttentionConfig, dtype: str = "float32"):
        super().__init__(dtype=dtype)
        self.config = c = config
        if c.score not in ("dot", "general", "concat"):
            raise ValueError(f"Expected `score` to be 'dot', 'general' or 'concat'. Received: {c.score!r}")
        if c.score == "dot" and c.query_dim != c.value_dim:
            raise ValueError(f"`dot` scores need query_dim == value_dim. Received: {c.query_dim} and {c.value_dim}")
        if c.score == "general":
            self.W_a = weight((c.value_dim, c.query_dim), dtype)
        if c.score == "concat":
            self.W_a = weight((c.query_dim + c.value_dim, c.units), dtype)
            self.v_a = weight((c.units,), dtype)

    def forward(self, query, values, mask=None, return_intermediates=False):
        check_tensors(query=query, values=values, mask=mask)
        check_query_values(self.config, query, values, mask, self.compute_dtype)
        values = values if mask is None else without_masked(values, mask[:, :, None])  # (B, T, Dv)
        c = self.config
        q = query[:, None, :] if query.dim() == 2 else query  # (B, Tq, Dq)
        if c.score == "dot":
            scores = matmul(q, values.transpose(1, 2))  # (B, Tq, T)
        elif c.score == "general":
            scores = matmul(q, matmul(values, self.W_a).transpose(1, 2))  # (B, Tq, T)
        else:
            W_aq, W_av = self.W_a[: c.query_dim], self.W_a[c.query_dim :]
            scores = tensordot(
                torch.tanh(matmul(q, W_aq)[:, :, None, :] + matmul(values, W_av)[:, None, :, :]),
                self.v_a,
            )
        attention_weights = masked_softmax(scores, None if mask is None else mask[:, None, :])
        context = matmul(attention_weights, values)  # (B, Tq, Dv)
        mids = {"scores": scores, "attention_weights": attention_weights}
        if query.dim() == 2:
            context, attention_weights = context[:, 0], attention_weights[:, 0]
        outputs = (context, attention_weights)
        return (outputs, mids) if return_intermediates else outputs


class ScaledDotProductAttention(Twin):
    r"""Scaled dot-product attention ("Attention Is All You Need", eq. 1). No weights.

    .. math::
        \mathrm{Attention}(Q, K, V) = \mathrm{softmax}\!\left(\frac{Q K^\top}{\sqrt{d_k}} + M\right) V

    where M removes masked keys (padding mask, and with ``causal`` the keys after each query; the
    Tq queries are the last Tq of the T positions). A query whose keys are all masked gets zero
    weights and a zero output.

    Call arguments:
        query: (B, Tq, d_k). key: (B, T, d_k). value: (B, T, d_v).
        mask: optional bool (B, T), True = attend.

    Returns:
        output (B, Tq, d_v), attention_weights (B, Tq, T).
    """

    def __init__(self, config: ScaledDotProductAttentionConfig, dtype: str = "float32"):
        super().__init__(dtype=dtype)
        self.config = config

    def forward(self, query, key, value, mask=None, return_intermediates=False):
        c = self.config
        check_tensors(query=query, key=key, value=value, mask=mask)
        check_query_key_value(c, query, key, value, mask, c.key_dim, c.value_dim, self.compute_dtype)
        key_mask = None if mask is None else mask[:, None, :]  # (B, 1, T)
        if c.path == "fused":
            output = fused_scaled_dot_product(query, key, value, key_mask, c.causal)
            return ((output, None), {}) if return_intermediates else (output, None)
        output, attention_weights, scores = scaled_dot_product(query, key, value, key_mask, c.causal)
        outputs = (output, attention_weights)
        mids = {"scores": scores, "attention_weights": attention_weights}
        return (outputs, mids) if return_intermediates else outputs


class KVCache:
    """Keys and values of the positions decoded so far, preallocated to ``max_len``.

    ``k``, ``v``: (B, H, T_max, d_h); ``length``: how many positions are written. Shapes never
    change, so a compiled decoding step is traced once: torch writes with ``index_copy_`` at
    positions held in a 0-d tensor (a Python int would be a guard that recompiles every step).
    """

    def __init__(
        self,
        batch_size: int,
        max_len: int,
        num_heads: int,
        head_dim: int,
        dtype: str = "float32",
        device=None,
    ):
        check_cache_size(batch_size, max_len)
        self.batch_size, self.max_len = batch_size, max_len
        self.k = torch.zeros((batch_size, num_heads, max_len, head_dim), dtype=getattr(torch, dtype), device=device)
        self.v = torch.zeros((batch_size, num_heads, max_len, head_dim), dtype=getattr(torch, dtype), device=device)
        self.length = torch.zeros((), dtype=torch.long, device=device)

    def append(self, k, v):
        """Write k, v (B, H, t, d_h) at positions [length, length + t); return the new positions."""
        t = k.shape[2]
        positions = self.length + torch.arange(t, device=k.device)
        length = known_values(self.length)  # None under torch.compile, where a check would break the graph
        if length is not None:
            check_cache_room(int(length), t, self.max_len)
        self.k.index_copy_(2, positions, k)
        self.v.index_copy_(2, positions, v)
        self.length += t
        return positions


class MultiHeadAttention(Twin):
    r"""Multi-head attention with separate Q/K/V/output projections and biases.

    .. math::
        \mathrm{head}_h = \mathrm{Attention}(Q W_q^{(h)} + b_q^{(h)}, K W_k^{(h)} + b_k^{(h)},
        V W_v^{(h)} + b_v^{(h)}), \quad
        \mathrm{output} = [\mathrm{head}_1; \dots; \mathrm{head}_H] W_o + b_o

    where W_q, W_k, W_v are (D, H d_h) with head h in columns [h d_h, (h+1) d_h), and W_o is
    (H d_h, D). B = batch, Tq/T = query/key steps, D = ``d_model``, H = heads, d_h = ``head_dim``.

    Incremental decoding: pass a ``KVCache`` from ``init_cache``; the new keys and values are written
    at the cache's write index and the queries attend over every written position (causally if
    ``causal``). Step-by-step outputs equal the full-sequence forward.

    Call arguments:
        query: (B, Tq, D). key, value: (B, T, D).
        mask: optional bool key-padding mask, True = attend: (B, T), or (B, T_max) with a cache.
        cache: optional ``KVCache``; query, key and value are then the same Tq new positions.

    Returns:
        output (B, Tq, D), attention_weights (B, H, Tq, T) (T_max with a cache).
    """

    def __init__(self, config: MultiHeadAttentionConfig, dtype: str = "float32"):
        super().__init__(dtype=dtype)
        self.config = c = config
        inner = c.num_heads * c.head_dim
        self.W_q = weight((c.d_model, inner), dtype)
        self.b_q = weight((inner,), dtype, "zeros")
        self.W_k = weight((c.d_model, inner), dtype)
        self.b_k = weight((inner,), dtype, "zeros")
        self.W_v = weight((c.d_model, inner), dtype)
        self.b_v = weight((inner,), dtype, "zeros")
        self.W_o = weight((inner, c.d_model), dtype)
        self.b_o = weight((c.d_model,), dtype, "zeros")

    def init_cache(self, batch_size: int, max_len: int) -> KVCache:
        c = self.config
        return KVCache(batch_size, max_len, c.num_heads, c.head_dim, checks.dtype_name(self.W_q.dtype), self.W_q.device)

    def split_heads(self, x):
        B, T = x.shape[0], x.shape[1]
        return x.reshape(B, T, self.config.num_heads, self.config.head_dim).permute(0, 2, 1, 3)  # (B, H, T, d_h)

    def forward(self, query, key, value, mask=None, cache=None, return_intermediates=False):
        c = self.config
        kv_len = None if cache is None else cache.max_len
        check_tensors(query=query, key=key, value=value, mask=mask)
        check_query_key_value(c, query, key, value, mask, c.d_model, c.d_model, self.compute_dtype, kv_len)
        if cache is not None and query.shape[0] != cache.batch_size:
            raise ValueError(
                f"Expected `query` with batch size {cache.batch_size} (the cache's). Received: {query.shape[0]}"
            )
        # Masked key and value rows are zeroed before the projections: zeroing k and v alone keeps a NaN
        # there out of the output, but not out of W_k's and W_v's gradients (NaN * 0 = NaN). Their k and v
        # are then finite (the biases), so the attention need not zero them again; cached slots it must.
        finite = mask is not None and cache is None
        if finite:
            key, value = without_masked(key, mask[:, :, None]), without_masked(value, mask[:, :, None])  # (B, T, D)
        q = self.split_heads(matmul(query, self.W_q, self.b_q))  # (B, H, Tq, d_h)
        k = self.split_heads(matmul(key, self.W_k, self.b_k))  # (B, H, T, d_h)
        v = self.split_heads(matmul(value, self.W_v, self.b_v))  # (B, H, T, d_h)
        q_positions = None
        if cache is not None:
            q_positions = cache.append(k, v)
            # Unwritten cache slots are masked; with `causal` the causal mask alone would do it.
            written = torch.arange(cache.max_len, device=q.device) < cache.length
            mask = written[None, :] if mask is None else torch.logical_and(mask, written[None, :])
            k, v = cache.k, cache.v  # (B, H, T_max, d_h)
        key_mask = None if mask is None else mask[:, None, None, :]  # (B, 1, 1, T)
        if c.path == "fused":
            heads = fused_scaled_dot_product(q, k, v, key_mask, c.causal, q_positions, finite)
            attention_weights, mids = None, {"q": q, "k": k, "v": v}
        else:
            heads, attention_weights, scores = scaled_dot_product(q, k, v, key_mask, c.causal, q_positions)
            mids = {"q": q, "k": k, "v": v, "scores": scores, "attention_weights": attention_weights}
        B, Tq = heads.shape[0], heads.shape[2]
        concat = heads.permute(0, 2, 1, 3).reshape(B, Tq, c.num_heads * c.head_dim)  # (B, Tq, H d_h)
        output = matmul(concat, self.W_o, self.b_o)  # (B, Tq, D)
        outputs = (output, attention_weights)
        mids["heads"] = heads
        return (outputs, mids) if return_intermediates else outputs
