"""NumPy float64 reference of the decoder-only transformer: the oracle that says which twin is wrong.

Written in ``autograd.numpy`` (exact reverse-mode gradients), functional style (no in-place writes),
statement for statement like the twins. Every model function returns ``(outputs, intermediates)``;
the intermediates carry the same names as the twins'. LayerNorm epsilon (a config field) and the
GELU form are chosen once in ``twinmem.configs.transformer`` (see its docstring for why).
"""

from __future__ import annotations

from collections.abc import Mapping

from twinmem.configs.transformer import (
    GELU_C,
    GELU_CUBIC,
    TinyGPTConfig,
    TransformerBlockConfig,
    attention_of,
    block_of,
)
from twinmem.reference.attention import multi_head_attention
from twinmem.reference.backend import Array, np


def sub(w: Mapping[str, Array], prefix: str) -> dict[str, Array]:
    """The weights of a sub-model, without its ``prefix.``."""
    return {n[len(prefix) :]: v for n, v in w.items() if n.startswith(prefix)}


def layer_norm(w: Mapping[str, Array], x: Array, eps: float) -> Array:
    mean = np.mean(x, axis=-1, keepdims=True)
    var = np.mean((x - mean) ** 2, axis=-1, keepdims=True)  # biased, as torch and nanoGPT
    return (x - mean) / np.sqrt(var + eps) * w["gamma"] + w["beta"]


def gelu(x: Array) -> Array:
    return 0.5 * x * (1.0 + np.tanh(GELU_C * (x + GELU_CUBIC * x**3)))


def mlp(w: Mapping[str, Array], x: Array) -> tuple[Array, dict[str, Array]]:
    u = x @ w["W_fc"] + w["b_fc"]  # (B, T, 4D)
    h = gelu(u)
    return h @ w["W_proj"] + w["b_proj"], {"u": u, "h": h}  # (B, T, D)


def transformer_block(
    w: Mapping[str, Array], config: TransformerBlockConfig, x: Array, mask: Array | None = None
) -> tuple[tuple[Array, ...], dict[str, Array]]:
    x_1 = layer_norm(sub(w, "ln_1."), x, config.layer_norm_eps)
    (attended, _), attention_mids = multi_head_attention(
        sub(w, "attention."), attention_of(config), x_1, x_1, x_1, mask
    )
    a = x + attended  # (B, T, D)
    x_2 = layer_norm(sub(w, "ln_2."), a, config.layer_norm_eps)
    mlp_out, mlp_mids = mlp(sub(w, "mlp."), x_2)
    output = a + mlp_out  # (B, T, D)
    mids = {
        "x_1": x_1,
        **{f"attention.{n}": m for n, m in attention_mids.items()},
        "a": a,
        "x_2": x_2,
        **{f"mlp.{n}": m for n, m in mlp_mids.items()},
        "output": output,
    }
    return (output,), mids


def tiny_gpt(
    w: Mapping[str, Array],
    config: TinyGPTConfig,
    tokens: Array,
    mask: Array | None = None,
    positions: Array | None = None,
) -> tuple[tuple[Array, ...], dict[str, Array]]:
    """``positions`` (B, T): each token's position, as the twins' (None: 0 .. T - 1)."""
    if positions is None:
        positions = np.arange(tokens.shape[1])  # (T,)
    # One-hot products, as the twins (an exact lookup: one nonzero term per row).
    token_embedding = np.eye(config.vocab_size)[tokens] @ w["W_te"]  # (B, T, D)
    position_embedding = np.eye(config.max_len)[positions] @ w["W_pe"]  # (T, D), or (B, T, D) for given positions
    h = token_embedding + position_embedding  # (B, T, D)
    mids = {"h_0": h}
    for n in range(config.num_layers):
        (h,), block_mids = transformer_block(sub(w, f"blocks.{n}."), block_of(config), h, mask)
        mids.update({f"blocks.{n}.{k}": m for k, m in block_mids.items()})
    h_f = layer_norm(sub(w, "ln_f."), h, config.layer_norm_eps)
    logits = h_f @ (w["W_te"].T if config.tie_embeddings else w["W_head"])  # (B, T, V)
    mids.update({"h_f": h_f, "logits": logits})
    return (logits,), mids
