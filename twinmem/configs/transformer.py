"""Configs, constants and input checks of the decoder-only transformer: the ground floor.

The configs are the single source of defaults: both twins and the reference take them as they are.
Two choices hold for every side (both twins and the reference), made once here:

* LayerNorm epsilon defaults to ``LAYER_NORM_EPS = 1e-5``, torch's, nanoGPT's and GPT-2's; it is a
  config field (``layer_norm_eps``), so a checkpoint made with another epsilon computes its own
  function, and every side reads it from the config (never a constant of its own).
* GELU is the tanh approximation (GPT-2's own form, HF's "gelu_new"), written out as a formula on
  all three sides: the float64 reference has it in ``autograd.numpy`` alone (there is no ``erf``
  without SciPy), and TensorFlow 2.21's fused ``tf.nn.gelu`` is not float64-exact: it is 9e-10 off
  the formula in float64 for the tanh form (5e-9 for the erf form), far outside the 1e-12
  tolerance, while torch's fused ``F.gelu`` agrees with the formula to 1e-15.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from twinmem import checks
from twinmem.configs.attention import PATHS, MultiHeadAttentionConfig, check_cache_room

# Chosen once for all three sides, as the docstring says: the default LayerNorm epsilon (torch's and
# nanoGPT's), and the constants of GELU's tanh approximation.
LAYER_NORM_EPS = 1e-5
GELU_C = math.sqrt(2.0 / math.pi)
GELU_CUBIC = 0.044715
MLP_RATIO = 4  # the MLP's hidden width is 4 D, as in GPT-2 and "Attention Is All You Need"


def _check_layer_norm_eps(config: TransformerBlockConfig | TinyGPTConfig) -> None:
    # After check_config_fields (a finite number): 0 divides a constant row by zero, a negative one
    # takes the root of a negative number.
    if config.layer_norm_eps <= 0:
        raise ValueError(
            f"Expected `layer_norm_eps` of {type(config).__name__} to be a finite number > 0. "
            f"Received: {config.layer_norm_eps!r}"
        )


@dataclass(frozen=True)
class TransformerBlockConfig(checks.CheckedConfig):
    d_model: int = 16  # D, features in and out
    num_heads: int = 4  # H
    head_dim: int = 4  # d_h, features per head (D // H in GPT-2)
    layer_norm_eps: float = LAYER_NORM_EPS  # epsilon, added to the variance in both LayerNorms
    path: str = "explicit"  # of the attention: "explicit" | "fused" (the framework's attention kernel)
    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {"path": PATHS}

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_layer_norm_eps(self)


@dataclass(frozen=True)
class TinyGPTConfig(checks.CheckedConfig):
    vocab_size: int = 13  # V, token ids 0 .. V - 1
    max_len: int = 8  # T_max, the context window: positions with a learned embedding
    d_model: int = 16  # D
    num_heads: int = 4  # H
    head_dim: int = 4  # d_h
    num_layers: int = 2  # N, decoder blocks
    tie_embeddings: bool = True  # the LM head is W_te^T (no weight of its own), as in GPT-2
    layer_norm_eps: float = LAYER_NORM_EPS  # epsilon of every LayerNorm (GPT-2's layer_norm_epsilon)
    path: str = "explicit"  # of every block's attention, as TransformerBlockConfig
    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {"path": PATHS}

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_layer_norm_eps(self)


def attention_of(config: TransformerBlockConfig) -> MultiHeadAttentionConfig:
    """The block's self-attention: causal, D in and out."""
    return MultiHeadAttentionConfig(
        d_model=config.d_model, num_heads=config.num_heads, head_dim=config.head_dim, causal=True, path=config.path
    )


def block_of(config: TinyGPTConfig) -> TransformerBlockConfig:
    return TransformerBlockConfig(
        d_model=config.d_model,
        num_heads=config.num_heads,
        head_dim=config.head_dim,
        layer_norm_eps=config.layer_norm_eps,
        path=config.path,
    )


# Input checks, shared by both twins so that both say the same words for the same mistake.
def check_block_inputs(
    config: TransformerBlockConfig, x: Any, mask: Any, dtype: str, kv_len: int | None = None
) -> None:
    checks.check_rank("x", x.shape, (3,), "(B, T, D)")
    checks.check_dim("x", x.shape, -1, config.d_model, "D")
    checks.check_dtype("x", x.dtype, dtype)
    if mask is not None:
        checks.check_mask("mask", mask.shape, mask.dtype, (x.shape[0], x.shape[1] if kv_len is None else kv_len))


def _check_int_ids(name: str, x: Any) -> None:
    dtype = checks.dtype_name(x.dtype)
    if dtype not in ("int32", "int64"):
        raise TypeError(f"Expected `{name}` of dtype int32 or int64. Received: dtype {dtype}")


def check_gpt_inputs(
    config: TinyGPTConfig,
    tokens: Any,
    mask: Any,
    positions: Any,
    caches: Sequence[Any] | None,
    known_values: checks.KnownValues,
) -> None:
    """``known_values``: the twin's own (tf_impl.core / torch_impl.core), NumPy values or None in a traced graph."""
    checks.check_rank("tokens", tokens.shape, (2,), "(B, T)")
    _check_int_ids("tokens", tokens)
    B, T = tokens.shape
    if T is not None and T > config.max_len:
        raise ValueError(
            f"Expected `tokens` of at most max_len = {config.max_len} steps (the context window). "
            f"Received: shape {tuple(tokens.shape)}"
        )
    if caches is not None:
        if len(caches) != config.num_layers:
            raise ValueError(f"Expected one cache per block ({config.num_layers}). Received: {len(caches)}")
        if B is not None and caches[0].batch_size != B:
            raise ValueError(f"Expected `tokens` with batch size {caches[0].batch_size} (the caches'). Received: {B}")
        cached = known_values(caches[0].length)
        if cached is not None and T is not None:
            # Here, before the position embedding: positions past max_len have no row in W_pe.
            check_cache_room(int(cached), T, config.max_len)
    if mask is not None:
        length = tuple(tokens.shape) if caches is None else (B, config.max_len)
        checks.check_mask("mask", mask.shape, mask.dtype, length)
    checks.check_ids("tokens", known_values(tokens), config.vocab_size)
    if positions is not None:
        checks.check_rank("positions", positions.shape, (2,), "(B, T)")
        checks.check_same("positions", positions.shape, 0, "tokens", tokens.shape, 0)
        checks.check_same("positions", positions.shape, 1, "tokens", tokens.shape, 1)
        _check_int_ids("positions", positions)
        # A position past the window has no row in W_pe (a lookup error or a wrong row, silently).
        checks.check_ids("positions", known_values(positions), config.max_len, "max_len")


def padded_positions(mask: np.ndarray) -> np.ndarray:
    """Positions (B, T) int64 of a padded prompt's mask (B, T), True = real token: transformers' rule.

    Each real token's position counts the real tokens before it (``cumsum(mask) - 1``), so a left-padded
    row starts at 0 as it would unpadded; pads get 0 (transformers 5's ``_prepare_position_ids_for_generation``
    fills them so), a position no real query reads: pad keys are masked.
    """
    return np.where(mask, np.cumsum(mask, axis=-1) - 1, 0).astype(np.int64)


def padded_key_mask(mask: np.ndarray, length: int) -> np.ndarray:
    """A padded prompt's mask (B, T) extended to ``length`` steps by True: the tokens generated after it are real."""
    return np.concatenate([mask, np.ones((mask.shape[0], length - mask.shape[1]), bool)], axis=1)


def check_generate(
    config: TinyGPTConfig,
    tokens: np.ndarray,
    max_new_tokens: int,
    temperature: float,
    top_k: int | None,
    uniforms: Any,
    mask: np.ndarray | None = None,
) -> None:
    checks.check_rank("tokens", tokens.shape, (2,), "(B, T)")
    if tokens.dtype.kind not in "iu":
        # np.asarray keeps floats, and the int64 prompt tensor would truncate them silently.
        raise TypeError(f"Expected `tokens` of an integer dtype (token ids). Received: dtype {tokens.dtype}")
    checks.check_ids("tokens", tokens, config.vocab_size)
    if not checks.is_int(max_new_tokens):
        raise TypeError(f"Expected `max_new_tokens` of type int. Received: {type(max_new_tokens).__name__}")
    B, T = tokens.shape
    if T < 1 or T > config.max_len:
        raise ValueError(
            f"Expected a prompt `tokens` of 1 to max_len = {config.max_len} steps (the context window). "
            f"Received: shape {tuple(tokens.shape)}"
        )
    if max_new_tokens < 1 or T + max_new_tokens > config.max_len:
        raise ValueError(
            f"Expected `max_new_tokens` in [1, max_len - prompt length = {config.max_len - T}] so that the "
            f"sequence fits the context window. Received: {max_new_tokens}"
        )
    if mask is not None:
        checks.check_mask("mask", mask.shape, mask.dtype, (B, T))
        # The next token is read off the prompt's last step: a pad there has no token to continue.
        no_last = ~mask[:, -1]
        if no_last.any():
            row = int(np.argmax(no_last))
            raise ValueError(
                "Expected `mask` True at the last prompt step of every row (pads on the left, as transformers "
                f"pads for generation). Received: row {row} = {mask[row].astype(int).tolist()}"
            )
    # NaN compares False with everything: `temperature < 0` let it through, and it drew token 0.
    if not (isinstance(temperature, int | float | np.floating) and math.isfinite(temperature) and temperature >= 0):
        raise ValueError(f"Expected `temperature` to be a finite number >= 0. Received: {temperature}")
    if top_k is not None and not 1 <= top_k <= config.vocab_size:
        raise ValueError(f"Expected `top_k` in [1, vocab_size = {config.vocab_size}]. Received: {top_k}")
    if temperature > 0:
        if uniforms is None:
            raise ValueError("Expected `uniforms` (B, max_new_tokens) in [0, 1) when temperature > 0. Received: None")
        u = np.asarray(uniforms)
        if u.shape != (B, max_new_tokens) or not np.all((u >= 0) & (u < 1)):  # NaN fails both comparisons
            raise ValueError(
                f"Expected `uniforms` of shape {(B, max_new_tokens)} in [0, 1). Received: shape {u.shape}, "
                f"range [{u.min() if u.size else 'n/a'}, {u.max() if u.size else 'n/a'}]"
            )
