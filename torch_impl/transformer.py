"""Decoder-only transformer twins, PyTorch side. Twin of ``tf_impl/transformer.py``.

A pre-LayerNorm GPT block (nanoGPT's ``Block``) built on the attention family's ``MultiHeadAttention``
twin, and ``TinyGPT``: embeddings, N blocks, a final LayerNorm and a (tied) language-model head,
with cached generation. LayerNorm epsilon and the GELU form: ``twinmem.configs.transformer``.

Mask convention (the whole project): bool (B, T), True = valid position (a key that may be attended).
"""

from __future__ import annotations

from typing import cast

import numpy as np
import torch
from torch import nn

from torch_impl.attention import KVCache, MultiHeadAttention
from torch_impl.core import Twin, check_tensors, embed, known_values, weight
from twinmem.configs.transformer import (
    GELU_C,
    GELU_CUBIC,
    LAYER_NORM_EPS,
    MLP_RATIO,
    TinyGPTConfig,
    TransformerBlockConfig,
    attention_of,
    block_of,
    check_block_inputs,
    check_generate,
    check_gpt_inputs,
)


def gelu(x):
    # The formula, as the TF twin must write it (TF's fused kernel is 9e-10 off it in float64).
    return 0.5 * x * (1.0 + torch.tanh(GELU_C * (x + GELU_CUBIC * x**3)))


class LayerNorm(Twin):
    r"""Layer normalisation over the last axis.

    .. math::
        \mathrm{LN}(x) = \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}} \gamma + \beta

    where mu and sigma^2 are the mean and the biased variance over the D features, epsilon =
    ``LAYER_NORM_EPS``. gamma, beta: (D,).
    """

    def __init__(self, features: int, dtype: str = "float32"):
        super().__init__(dtype=dtype)
        self.gamma = weight((features,), dtype, "ones")
        self.beta = weight((features,), dtype, "zeros")

    def forward(self, x):
        mean = torch.mean(x, dim=-1, keepdim=True)
        var = torch.mean((x - mean) ** 2, dim=-1, keepdim=True)
        return (x - mean) / torch.sqrt(var + LAYER_NORM_EPS) * self.gamma + self.beta


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
        u = torch.matmul(x, self.W_fc) + self.b_fc  # (B, T, 4D)
        h = gelu(u)
        output = torch.matmul(h, self.W_proj) + self.b_proj  # (B, T, D)
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
        dtype: "float32" or "float64".

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
        self.ln_1 = LayerNorm(c.d_model, dtype=dtype)
        self.attention = MultiHeadAttention(attention_of(c), dtype=dtype)
        self.ln_2 = LayerNorm(c.d_model, dtype=dtype)
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
        dtype: "float32" or "float64".

    Call arguments:
        tokens: (B, T) int32 or int64, ids in [0, V), T <= T_max.
        mask: optional bool key-padding mask, True = valid: (B, T), or (B, T_max) with caches.
        caches: optional list of N ``KVCache`` from ``init_cache``; the T tokens then take the
            positions after the cached ones.

    Returns:
        ``(logits,)``, logits (B, T, V).
    """

    def __init__(self, config: TinyGPTConfig, dtype: str = "float32"):
        super().__init__(dtype=dtype)
        self.config = c = config
        self.W_te = weight((c.vocab_size, c.d_model), dtype)
        self.W_pe = weight((c.max_len, c.d_model), dtype)
        self.blocks = nn.ModuleList([TransformerBlock(block_of(c), dtype=dtype) for _ in range(c.num_layers)])
        self.ln_f = LayerNorm(c.d_model, dtype=dtype)
        if not c.tie_embeddings:
            self.W_head = weight((c.d_model, c.vocab_size), dtype)

    def init_cache(self, batch_size: int) -> list[KVCache]:
        # cast: nn.ModuleList hands its items back typed as plain Modules.
        blocks = [cast(TransformerBlock, block) for block in self.blocks]
        return [block.attention.init_cache(batch_size, self.config.max_len) for block in blocks]

    def forward(self, tokens, mask=None, caches=None, return_intermediates=False):
        c = self.config
        check_tensors(tokens=tokens, mask=mask)
        check_gpt_inputs(c, tokens, mask, caches, known_values)
        offset = 0 if caches is None else caches[0].length
        positions = offset + torch.arange(tokens.shape[1], device=tokens.device)  # (T,)
        token_embedding = embed(self.W_te, tokens)  # (B, T, D)
        position_embedding = embed(self.W_pe, positions)  # (T, D)
        h = token_embedding + position_embedding  # (B, T, D)
        mids = {"h_0": h}
        for n, block in enumerate(self.blocks):
            (h,), block_mids = block(
                h, mask=mask, cache=None if caches is None else caches[n], return_intermediates=True
            )
            mids.update({f"blocks.{n}.{k}": m for k, m in block_mids.items()})
        h_f = self.ln_f(h)
        if c.tie_embeddings:
            logits = torch.matmul(h_f, self.W_te.T)  # (B, T, V)
        else:
            logits = torch.matmul(h_f, self.W_head)  # (B, T, V)
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
    ):
        """Continue the prompts ``tokens`` (B, T) by ``max_new_tokens`` tokens; returns (B, T + M) int64.

        With ``use_cache`` the prompt is run once (prefill) and each new token is one step over the
        caches; without, the full forward runs on the whole sequence at every step. ``graph`` runs
        the decoding compiled (``tf.function`` / ``torch.compile``). ``uniforms`` (B, M) feed ``sample`` at temperature > 0.
        """
        tokens = tokens.cpu().numpy() if isinstance(tokens, torch.Tensor) else np.asarray(tokens)  # on any device
        check_generate(self.config, tokens, max_new_tokens, temperature, top_k, uniforms)
        sequence = torch.as_tensor(tokens, dtype=torch.int64, device=self.W_te.device)
        caches = self.init_cache(tokens.shape[0]) if use_cache else None

        def decode(x):
            return self(x, caches=caches)[0][:, -1]  # (B, V), the last position's logits

        if graph:
            # No recompile per step: dynamic=False fixes the shapes, (B, 1) at every step, and the
            # cache's write index is a 0-d tensor, not a Python int (an int would be a guard that
            # fails at every step). Two compiles in all: the prompt and the step; after them the
            # stance "fail_on_recompile" turns any further one into an error instead of a slowdown.
            decode = torch.compile(decode, dynamic=False)
        logits = decode(sequence)
        for step in range(max_new_tokens):
            u = None if uniforms is None else np.asarray(uniforms)[:, step]
            next_token = self.sample(logits, temperature, top_k, u)  # (B,)
            sequence = torch.cat([sequence, next_token[:, None]], dim=1)  # (B, T + step + 1)
            if step + 1 < max_new_tokens:
                stance = "fail_on_recompile" if graph and use_cache and step > 0 else "default"
                with torch.compiler.set_stance(stance):
                    logits = decode(next_token[:, None] if use_cache else sequence)
        return sequence
