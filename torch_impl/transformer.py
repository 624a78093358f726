"""Decoder-only transformer twins, PyTorch side. Twin of ``tf_impl/transformer.py``.

A pre-LayerNorm GPT block (nanoGPT's ``Block``) built on the attention family's ``MultiHeadAttention``
twin, and ``TinyGPT``: embeddings, N blocks, a final LayerNorm and a (tied) language-model head,
with cached generation. LayerNorm epsilon (a config field) and the GELU form: ``twinmem.configs.transformer``.

Mask convention (the whole project): bool (B, T), True = valid position (a key that may be attended).

Precision (float32 and float64: every step in the dtype). In bfloat16 and float16, the attention
family's rules (``tf_impl/attention.py``'s docstring: matmuls summed in float32 and rounded once,
softmax in float32) plus: LayerNorm runs in float32 throughout (mean, variance, normalisation, gain
and shift; epsilon = 1e-5 is not a bfloat16 number) and rounds its output once; GELU runs in float32
and rounds once; residual adds and embedding sums round once each, in the dtype.
"""

from __future__ import annotations

from typing import cast

import numpy as np
import torch
from torch import nn

from torch_impl.attention import KVCache, MultiHeadAttention
from torch_impl.core import Twin, check_tensors, embed, known_values, matmul, upcast, weight
from twinmem.configs.transformer import (
    GELU_C,
    GELU_CUBIC,
    MLP_RATIO,
    TinyGPTConfig,
    TransformerBlockConfig,
    attention_of,
    block_of,
    check_block_inputs,
    check_generate,
    check_gpt_inputs,
    padded_key_mask,
    padded_positions,
)


def gelu(x):
    # The formula, as the TF twin must write it (TF's fused kernel is 9e-10 off it in float64).
    # In float32 for a 16-bit x, rounded once (the module docstring).
    y = upcast(x)
    return (0.5 * y * (1.0 + torch.tanh(GELU_C * (y + GELU_CUBIC * y**3)))).to(x.dtype)


class LayerNorm(Twin):
    r"""Layer normalisation over the last axis.

    .. math::
        \mathrm{LN}(x) = \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}} \gamma + \beta

    where mu and sigma^2 are the mean and the biased variance over the D features, epsilon = ``eps``
    (the config's ``layer_norm_eps``). gamma, beta: (D,).
    """

    def __init__(self, features: int, eps: float, dtype: str = "float32"):
        super().__init__(dtype=dtype)
        self.eps = eps
        self.gamma = weight((features,), dtype, "ones")
        self.beta = weight((features,), dtype, "zeros")

    def forward(self, x):
        y = upcast(x)  # float32 throughout for a 16-bit x, rounded once at the end (the module docstring)
        mean = torch.mean(y, dim=-1, keepdim=True)
        var = torch.mean((y - mean) ** 2, dim=-1, keepdim=True)
        return ((y - mean) / torch.sqrt(var + self.eps) * upcast(self.gamma) + upcast(self.beta)).to(x.dtype)


class MLP(Twin):
    r"""The block's position-wise feed-forward network.

    .. math::
        u = x W_{fc} + b_{fc}, \quad h = \mathrm{GELU}(u), \quad \mathrm{MLP}(x) = h W_{proj} + b_{proj}

    where W_fc is (D, 4D) and W_proj (4D, D); GELU is the tanh approximation.
    """

    def __init__(self, d_model: int, dtype: str = "float32"):
        super().__init__(dtype=dtype)
        hidden = MLP_RATIO * d_model
        self.W_fc = weight((d_model, hidden), dtype)
        self.b_fc = weight((hidden,), dtype, "zeros")
        self.W_proj = weight((hidden, d_model), dtype)
        self.b_proj = weight((d_model,), dtype, "zeros")

    def forward(self, x, return_intermediates=False):
        u = matmul(x, self.W_fc, self.b_fc)  # (B, T, 4D)
        h = gelu(u)
        output = matmul(h, self.W_proj, self.b_proj)  # (B, T, D)
        return (output, {"u": u, "h": h}) if return_intermediates else output


class TransformerBlock(Twin):
    r"""Pre-LayerNorm decoder block (GPT-2, nanoGPT's ``Block``).

    .. math::
        a = x + \mathrm{MHA}(\mathrm{LN}_1(x)), \quad y = a + \mathrm{MLP}(\mathrm{LN}_2(a))

    where MHA is causal multi-head self-attention (``attention``, the attention family's twin, with
    a key-padding mask and an optional key/value cache) and MLP is ``GELU(z W_fc + b_fc) W_proj +
    b_proj`` with a hidden width of 4D. B = batch, T = steps, D = ``d_model``.

    Args:
        config: ``TransformerBlockConfig``.
        dtype: "float32", "float64", "bfloat16" or "float16" (precision: the module docstring).

    Call arguments:
        x: (B, T, D).
        mask: optional bool key-padding mask, True = attend: (B, T), or (B, T_max) with a cache.
        cache: optional ``KVCache`` of ``attention`` (decoding: T new positions after the cached ones).

    Returns:
        ``(output,)``, output (B, T, D).
    """

    def __init__(self, config: TransformerBlockConfig, dtype: str = "float32"):
        super().__init__(dtype=dtype)
        self.config = c = config
        self.ln_1 = LayerNorm(c.d_model, c.layer_norm_eps, dtype=dtype)
        self.attention = MultiHeadAttention(attention_of(c), dtype=dtype)
        self.ln_2 = LayerNorm(c.d_model, c.layer_norm_eps, dtype=dtype)
        self.mlp = MLP(c.d_model, dtype=dtype)

    def forward(self, x, mask=None, cache=None, return_intermediates=False):
        check_tensors(x=x, mask=mask)
        check_block_inputs(self.config, x, mask, self.compute_dtype, None if cache is None else cache.max_len)
        x_1 = self.ln_1(x)
        (attended, _), attention_mids = self.attention(x_1, x_1, x_1, mask=mask, cache=cache, return_intermediates=True)
        a = x + attended  # (B, T, D)
        x_2 = self.ln_2(a)
        mlp_out, mlp_mids = self.mlp(x_2, return_intermediates=True)
        output = a + mlp_out  # (B, T, D)
        mids = {
            "x_1": x_1,
            **{f"attention.{n}": m for n, m in attention_mids.items()},
            "a": a,
            "x_2": x_2,
            **{f"mlp.{n}": m for n, m in mlp_mids.items()},
            "output": output,
        }
        return ((output,), mids) if return_intermediates else (output,)


class TinyGPT(Twin):
    r"""A GPT-style decoder-only language model.

    .. math::
        h_0 = E_{te}[w] + E_{pe}[p], \quad h_n = \mathrm{Block}_n(h_{n-1}), \quad
        \mathrm{logits} = \mathrm{LN}_f(h_N) W_{head}

    where w are the token ids, p their positions, W_te (V, D) and W_pe (T_max, D) the token and
    position embeddings, and W_head = W_te^T when ``tie_embeddings`` (no weight of its own), else a
    (D, V) weight. B = batch, T = steps, V = ``vocab_size``, D = ``d_model``, T_max = ``max_len``,
    N = ``num_layers``.

    Generation: ``generate`` prefills one ``KVCache`` per block with the prompt, then feeds one token
    per step, each step attending over the cache; its tokens equal those of re-running the full
    forward each step (``use_cache=False``).

    Args:
        config: ``TinyGPTConfig``.
        dtype: "float32", "float64", "bfloat16" or "float16" (precision: the module docstring).

    Call arguments:
        tokens: (B, T) int32 or int64, ids in [0, V), T <= T_max.
        mask: optional bool key-padding mask, True = valid: (B, T), or (B, T_max) with caches.
        positions: optional (B, T) int32 or int64 position of each token, in [0, T_max): a row's own
            positions, as transformers' ``position_ids`` (left-padded rows start at 0 after their pads).
            None: 0 .. T - 1, or with caches the T positions after the cached ones.
        caches: optional list of N ``KVCache`` from ``init_cache``.

    Returns:
        ``(logits,)``, logits (B, T, V).
    """

    def __init__(self, config: TinyGPTConfig, dtype: str = "float32"):
        super().__init__(dtype=dtype)
        self.config = c = config
        self.W_te = weight((c.vocab_size, c.d_model), dtype)
        self.W_pe = weight((c.max_len, c.d_model), dtype)
        self.blocks = nn.ModuleList([TransformerBlock(block_of(c), dtype=dtype) for _ in range(c.num_layers)])
        self.ln_f = LayerNorm(c.d_model, c.layer_norm_eps, dtype=dtype)
        if not c.tie_embeddings:
            self.W_head = weight((c.d_model, c.vocab_size), dtype)

    def init_cache(self, batch_size: int) -> list[KVCache]:
        # cast: nn.ModuleList hands its items back typed as plain Modules.
        blocks = [cast(TransformerBlock, block) for block in self.blocks]
        return [block.attention.init_cache(batch_size, self.config.max_len) for block in blocks]

    def forward(self, tokens, mask=None, positions=None, caches=None, return_intermediates=False):
        c = self.config
        check_tensors(tokens=tokens, mask=mask, positions=positions)
        check_gpt_inputs(c, tokens, mask, positions, caches, known_values)
        if positions is None:
            offset = 0 if caches is None else caches[0].length
            positions = offset + torch.arange(tokens.shape[1], device=tokens.device)  # (T,)
        token_embedding = embed(self.W_te, tokens)  # (B, T, D)
        position_embedding = embed(self.W_pe, positions)  # (T, D), or (B, T, D) for given positions
        h = token_embedding + position_embedding  # (B, T, D)
        mids = {"h_0": h}
        for n, block in enumerate(self.blocks):
            (h,), block_mids = block(
                h, mask=mask, cache=None if caches is None else caches[n], return_intermediates=True
            )
            mids.update({f"blocks.{n}.{k}": m for k, m in block_mids.items()})
        h_f = self.ln_f(h)
        if c.tie_embeddings:
            logits = matmul(h_f, self.W_te.T)  # (B, T, V)
        else:
            logits = matmul(h_f, self.W_head)  # (B, T, V)
        mids.update({"h_f": h_f, "logits": logits})
        return ((logits,), mids) if return_intermediates else (logits,)

    def sample(self, logits, temperature: float, top_k: int | None = None, uniforms=None):
        """Next tokens (B,) int64 from logits (B, V): greedy if temperature == 0, else inverse-CDF sampling.

        ``uniforms`` (B,) in [0, 1), drawn by the caller (NumPy), make the draw the same in both twins:
        token = the first v with cdf_v > u, cdf of softmax(logits / temperature) over the ``top_k``
        largest logits (all if None), computed in float64.
        """
        logits = logits.to(torch.float64)
        if temperature == 0:
            return torch.argmax(logits, dim=-1)
        logits = logits / temperature
        if top_k is not None:
            kth = torch.topk(logits, k=top_k).values[:, -1:]  # (B, 1)
            logits = torch.where(logits < kth, -torch.inf, logits)
        cdf = torch.cumsum(torch.softmax(logits, dim=-1), dim=-1)  # (B, V)
        u = torch.as_tensor(np.asarray(uniforms, np.float64), device=logits.device)[:, None]  # (B, 1)
        below = torch.sum((cdf <= u).to(torch.int64), dim=-1)
        return torch.clamp(below, max=logits.shape[-1] - 1)

    # No autograd graph: torch would record every step for a backward pass that never comes (TF
    # records only under a GradientTape).
    @torch.no_grad()
    def generate(
        self,
        tokens,
        max_new_tokens: int,
        temperature: float = 0.0,
        top_k: int | None = None,
        uniforms=None,
        use_cache: bool = True,
        graph: bool = False,
        mask=None,
    ):
        """Continue the prompts ``tokens`` (B, T) by ``max_new_tokens`` tokens; returns (B, T + M) int64.

        With ``use_cache`` the prompt is run once (prefill) and each new token is one step over the
        caches; without, the full forward runs on the whole sequence at every step. ``graph`` runs
        the decoding compiled (``tf.function`` / ``torch.compile``). ``uniforms`` (B, M) feed ``sample`` at temperature > 0.

        ``mask`` (B, T) bool marks a padded batch's real prompt tokens, True = real (a key to attend),
        False = pad: transformers' ``attention_mask`` as it is (1 -> True, 0 -> False, the same sense),
        pads on the left so that every row's last prompt step is real. Each row's positions are then its
        own, as ``GPT2LMHeadModel.generate`` derives them (``padded_positions``: a row starts at 0 after
        its pads), and each generated token extends the mask by True. A left pad's query attends to no
        key (all keys up to it are pads): its row of weights is zero, as every fully masked row.
        """
        tokens = tokens.cpu().numpy() if isinstance(tokens, torch.Tensor) else np.asarray(tokens)  # on any device
        mask = mask.cpu().numpy() if isinstance(mask, torch.Tensor) else None if mask is None else np.asarray(mask)
        check_generate(self.config, tokens, max_new_tokens, temperature, top_k, uniforms, mask)
        sequence = torch.as_tensor(tokens, dtype=torch.int64, device=self.W_te.device)
        caches = self.init_cache(tokens.shape[0]) if use_cache else None
        positions, key_mask = None, None
        if mask is not None:
            positions = torch.as_tensor(padded_positions(mask), device=self.W_te.device)  # (B, T)
            # With caches the mask covers every slot (B, T_max): the slots to come hold generated tokens,
            # all real, so it is one tensor for every step (unwritten slots are masked by the cache).
            key_mask = torch.as_tensor(
                padded_key_mask(mask, self.config.max_len if use_cache else mask.shape[1]), device=self.W_te.device
            )

        def decode(x, p, m):
            return self(x, mask=m, positions=p, caches=caches)[0][:, -1]  # (B, V), the last position's logits

        if graph:
            # No recompile per step: dynamic=False fixes the shapes, (B, 1) tokens and positions and the
            # (B, T_max) mask at every step (new (B, 1) tensors, so their strides stay too), and the
            # cache's write index is a 0-d tensor, not a Python int (an int would be a guard that
            # fails at every step). Two compiles in all: the prompt and the step; after them the
            # stance "fail_on_recompile" turns any further one into an error instead of a slowdown.
            decode = torch.compile(decode, dynamic=False)
        logits = decode(sequence, positions, key_mask)
        for step in range(max_new_tokens):
            u = None if uniforms is None else np.asarray(uniforms)[:, step]
            next_token = self.sample(logits, temperature, top_k, u)  # (B,)
            sequence = torch.cat([sequence, next_token[:, None]], dim=1)  # (B, T + step + 1)
            if positions is not None:
                # The new token is real: its position follows its row's last one (its key slot is True already
                # in the cached mask; the uncached mask grows by it below).
                next_position = positions[:, -1:] + 1  # (B, 1), a fresh tensor (torch.compile guards a slice's strides)
                positions = torch.cat([positions, next_position], dim=1)  # (B, T + step + 1)
            if key_mask is not None and not use_cache:
                key_mask = torch.cat([key_mask, torch.ones_like(key_mask[:, -1:])], dim=1)  # (B, T + step + 1)
            if step + 1 < max_new_tokens:
                stance = "fail_on_recompile" if graph and use_cache and step > 0 else "default"
                with torch.compiler.set_stance(stance):
                    if use_cache:
                        logits = decode(next_token[:, None], None if positions is None else next_position, key_mask)
                    else:
                        logits = decode(sequence, positions, key_mask)
        return sequence
