"""NumPy float64 reference of the attention family: the oracle that says which twin is wrong.

Written in ``autograd.numpy`` (NumPy with exact reverse-mode gradients), functional style (no
in-place writes), statement for statement like the twins. Every function returns
``(outputs, intermediates)``; the intermediates carry the same names as the twins'.
"""

from __future__ import annotations

from collections.abc import Mapping

from twinmem.configs.attention import (
    AdditiveAttentionConfig,
    LuongAttentionConfig,
    MultiHeadAttentionConfig,
    ScaledDotProductAttentionConfig,
)
from twinmem.reference.backend import Array, np

# Masked scores are set to the most negative finite float rather than -inf: exp() of it minus any
# real row maximum underflows to exactly 0, and a row with every key masked never computes
# inf - inf = NaN (it comes out uniform and is then zeroed, see masked_softmax).
MASKED_SCORE = float(np.finfo(np.float64).min)


def masked_softmax(scores: Array, mask: Array | None) -> Array:
    """Softmax over the last axis; masked positions (mask False) get exactly zero weight.

    A row whose keys are all masked gets all-zero weights, so its context is zero, not NaN.
    """
    if mask is None:
        mask = np.ones(scores.shape, dtype=bool)
    scores = np.where(mask, scores, MASKED_SCORE)
    e = np.exp(scores - np.max(scores, axis=-1, keepdims=True))
    weights = e / np.sum(e, axis=-1, keepdims=True)
    return np.where(mask, weights, 0.0)


def causal_mask(q_len: int, kv_len: int) -> Array:
    """(Tq, T) boolean, True where query i may see key j: j <= i + (T - Tq)."""
    i = np.arange(q_len)[:, None]
    j = np.arange(kv_len)[None, :]
    return j <= i + (kv_len - q_len)


def additive_attention(
    w: Mapping[str, Array], config: AdditiveAttentionConfig, query: Array, values: Array, mask: Array | None = None
) -> tuple[tuple[Array, ...], dict[str, Array]]:
    values = values if mask is None else np.where(mask[:, :, None], values, 0.0)  # masked: no influence
    q = query[:, None, :] if query.ndim == 2 else query  # (B, Tq, Dq)
    query_features = q @ w["W1"] + w["b1"]  # (B, Tq, U)
    value_features = values @ w["W2"] + w["b2"]  # (B, T, U)
    scores = (np.tanh(query_features[:, :, None, :] + value_features[:, None, :, :]) @ w["V"] + w["b_V"])[..., 0]
    attention_weights = masked_softmax(scores, None if mask is None else mask[:, None, :])  # (B, Tq, T)
    context = attention_weights @ values  # (B, Tq, Dv)
    mids = {
        "query_features": query_features,
        "value_features": value_features,
        "scores": scores,
        "attention_weights": attention_weights,
    }
    if query.ndim == 2:
        context, attention_weights = context[:, 0], attention_weights[:, 0]
    return (context, attention_weights), mids


def luong_attention(
    w: Mapping[str, Array], config: LuongAttentionConfig, query: Array, values: Array, mask: Array | None = None
) -> tuple[tuple[Array, ...], dict[str, Array]]:
    values = values if mask is None else np.where(mask[:, :, None], values, 0.0)  # masked: no influence
    q = query[:, None, :] if query.ndim == 2 else query  # (B, Tq, Dq)
    if config.score == "dot":
        scores = q @ np.swapaxes(values, 1, 2)  # (B, Tq, T)
    elif config.score == "general":
        scores = q @ np.swapaxes(values @ w["W_a"], 1, 2)  # (B, Tq, T)
    else:  # concat: v_a^T tanh(W_a [q; v]), with W_a split into its query and value rows
        W_aq, W_av = w["W_a"][: config.query_dim], w["W_a"][config.query_dim :]
        scores = np.tanh((q @ W_aq)[:, :, None, :] + (values @ W_av)[:, None, :, :]) @ w["v_a"]
    attention_weights = masked_softmax(scores, None if mask is None else mask[:, None, :])
    context = attention_weights @ values  # (B, Tq, Dv)
    mids = {"scores": scores, "attention_weights": attention_weights}
    if query.ndim == 2:
        context, attention_weights = context[:, 0], attention_weights[:, 0]
    return (context, attention_weights), mids


def scaled_dot_product(q: Array, k: Array, v: Array, mask: Array | None, causal: bool) -> tuple[Array, Array, Array]:
    """Shared core of SDPA and MHA over any leading axes: q (..., Tq, d_k), k (..., T, d_k)."""
    if mask is not None:  # the key-padding mask (..., 1, T): masked keys and values have no influence
        k, v = np.where(np.swapaxes(mask, -1, -2), k, 0.0), np.where(np.swapaxes(mask, -1, -2), v, 0.0)
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])  # (..., Tq, T)
    if causal:
        c = causal_mask(q.shape[-2], k.shape[-2])
        mask = c if mask is None else mask & c
    attention_weights = masked_softmax(scores, mask)
    return attention_weights @ v, attention_weights, scores


def scaled_dot_product_attention(
    w: Mapping[str, Array],
    config: ScaledDotProductAttentionConfig,
    query: Array,
    key: Array,
    value: Array,
    mask: Array | None = None,
) -> tuple[tuple[Array, ...], dict[str, Array]]:
    output, attention_weights, scores = scaled_dot_product(
        query, key, value, None if mask is None else mask[:, None, :], config.causal
    )
    # The fused path is the same function; its kernel hands back no weights (None), and the
    # intermediates here are a superset the twins' are compared against.
    weights_out = None if config.path == "fused" else attention_weights
    return (output, weights_out), {"scores": scores, "attention_weights": attention_weights}


def _split_heads(x: Array, num_heads: int) -> Array:
    B, T, _ = x.shape
    return np.transpose(np.reshape(x, (B, T, num_heads, -1)), (0, 2, 1, 3))  # (B, H, T, d_h)


def multi_head_attention(
    w: Mapping[str, Array],
    config: MultiHeadAttentionConfig,
    query: Array,
    key: Array,
    value: Array,
    mask: Array | None = None,
) -> tuple[tuple[Array, ...], dict[str, Array]]:
    if mask is not None:  # masked key and value rows: no influence, on W_k's and W_v's gradients either
        key, value = np.where(mask[:, :, None], key, 0.0), np.where(mask[:, :, None], value, 0.0)
    q = _split_heads(query @ w["W_q"] + w["b_q"], config.num_heads)  # (B, H, Tq, d_h)
    k = _split_heads(key @ w["W_k"] + w["b_k"], config.num_heads)  # (B, H, T, d_h)
    v = _split_heads(value @ w["W_v"] + w["b_v"], config.num_heads)  # (B, H, T, d_h)
    heads, attention_weights, scores = scaled_dot_product(
        q, k, v, None if mask is None else mask[:, None, None, :], config.causal
    )
    B, H, Tq, d_h = heads.shape
    concat = np.reshape(np.transpose(heads, (0, 2, 1, 3)), (B, Tq, H * d_h))  # (B, Tq, H d_h)
    output = concat @ w["W_o"] + w["b_o"]  # (B, Tq, D)
    mids = {"q": q, "k": k, "v": v, "scores": scores, "attention_weights": attention_weights, "heads": heads}
    return (output, None if config.path == "fused" else attention_weights), mids  # fused: as in SDPA
