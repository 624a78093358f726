"""Configs and input checks of the recurrent family: the ground floor, importing nothing of the models.

The configs are the single source of defaults: both twins and the reference take them as they are.
The derived sub-configs (``rnn_of``, ``lstm_of``, ``encoder_of``, ``attention_of``) say which
recurrent layer or attention each composite model holds. The canonical weight layout of a
recurrent layer (cells, gate orders, torch's and Keras' names) is ``twinmem.layouts.recurrent``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from twinmem import checks
from twinmem.configs.attention import PATHS, AdditiveAttentionConfig


@dataclass(frozen=True)
class RNNConfig(checks.CheckedConfig):
    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {"path": PATHS, "activation": ("tanh", "relu")}
    input_size: int = 5  # D, features of each step
    hidden_size: int = 6  # H, features of the hidden state
    num_layers: int = 1  # L, stacked layers; layer l > 0 reads layer l - 1's output (D H features)
    bidirectional: bool = False  # num_directions = 2: a backward pass, outputs concatenated
    dropout: float = 0.0  # dropout on each layer's output but the last's, in training only
    activation: str = "tanh"  # "tanh" | "relu"
    path: str = "explicit"  # "explicit" (a loop over the cell) | "fused" (the framework's own kernel)


@dataclass(frozen=True)
class LSTMConfig(checks.CheckedConfig):
    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {"path": PATHS}
    input_size: int = 5  # D
    hidden_size: int = 6  # H
    num_layers: int = 1  # L
    bidirectional: bool = False
    dropout: float = 0.0  # between layers, training only
    path: str = "explicit"  # "explicit" | "fused"


@dataclass(frozen=True)
class GRUConfig(checks.CheckedConfig):
    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {"path": PATHS}
    input_size: int = 5  # D
    hidden_size: int = 6  # H
    num_layers: int = 1  # L
    bidirectional: bool = False
    dropout: float = 0.0  # between layers, training only
    path: str = "explicit"  # "explicit" | "fused"


@dataclass(frozen=True)
class RNNClassifierConfig(checks.CheckedConfig):
    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {"path": PATHS, "activation": ("tanh", "relu")}
    input_size: int = 3  # D, the seed's input_size
    hidden_size: int = 10  # H, the seed's hidden_size
    output_size: int = 5  # O, the seed's output_size
    activation: str = "tanh"  # of the Elman RNN
    path: str = "explicit"  # of the Elman RNN


@dataclass(frozen=True)
class LSTMLanguageModelConfig(checks.CheckedConfig):
    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {"path": PATHS}
    vocab_size: int = 11  # V (the seed: len(TEXT.vocab))
    embed_dim: int = 6  # E (the seed: 100)
    hidden_size: int = 7  # H (the seed: 256)
    num_layers: int = 2  # L (the seed: 2)
    dropout: float = 0.5  # between the LSTM layers, training only (the seed: 0.5)
    path: str = "explicit"  # of the LSTM


# The three recurrent layers' configs: what the shared recurrent code (shapes, checks, reference) takes.
RecurrentConfig = RNNConfig | LSTMConfig | GRUConfig


def kind_of(config: RecurrentConfig) -> str:
    return {RNNConfig: "rnn", LSTMConfig: "lstm", GRUConfig: "gru"}[type(config)]


def num_directions(config: RecurrentConfig) -> int:
    return 2 if config.bidirectional else 1


def check_config(config: RecurrentConfig) -> None:
    if config.path not in ("explicit", "fused"):
        raise ValueError(f"Expected `path` to be 'explicit' or 'fused'. Received: {config.path!r}")
    activation = getattr(config, "activation", "tanh")  # RNNConfig's alone
    if activation not in ("tanh", "relu"):
        raise ValueError(f"Expected `activation` to be 'tanh' or 'relu'. Received: {activation!r}")
    if not 0.0 <= config.dropout < 1.0:
        raise ValueError(f"Expected `dropout` in [0, 1). Received: {config.dropout}")


def rnn_of(config: RNNClassifierConfig) -> RNNConfig:
    """The classifier's Elman RNN: one layer, one direction."""
    return RNNConfig(
        input_size=config.input_size, hidden_size=config.hidden_size, activation=config.activation, path=config.path
    )


def lstm_of(config: LSTMLanguageModelConfig) -> LSTMConfig:
    """The language model's LSTM stack."""
    return LSTMConfig(
        input_size=config.embed_dim,
        hidden_size=config.hidden_size,
        num_layers=config.num_layers,
        dropout=config.dropout,
        path=config.path,
    )


@dataclass(frozen=True)
class Seq2SeqAttentionConfig(checks.CheckedConfig):
    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {"path": PATHS}
    source_vocab_size: int = 9  # V_s
    target_vocab_size: int = 10  # V_t
    embed_dim: int = 5  # E, of both embeddings
    hidden_size: int = 6  # H, of the encoder and decoder GRUs
    attention_units: int = 7  # U, width of the Bahdanau attention's tanh layer
    path: str = "explicit"  # of the encoder GRU (the decoder runs step by step, attention in between)


def encoder_of(config: Seq2SeqAttentionConfig) -> GRUConfig:
    """The encoder: one unidirectional GRU layer over the source embeddings."""
    return GRUConfig(input_size=config.embed_dim, hidden_size=config.hidden_size, path=config.path)


def attention_of(config: Seq2SeqAttentionConfig) -> AdditiveAttentionConfig:
    """The decoder's Bahdanau attention: query = decoder state, values = encoder outputs."""
    H = config.hidden_size
    return AdditiveAttentionConfig(query_dim=H, value_dim=H, units=config.attention_units)


# Input checks, shared by both twins so that both say the same words for the same mistake.
# `known_values` is the twin's own (tf_impl.core / torch_impl.core): NumPy values, None in a traced graph.
def check_recurrent_inputs(
    config: RecurrentConfig,
    x: Any,
    mask: Any,
    h_0: Any,
    c_0: Any,
    dtype: str,
    known_values: checks.KnownValues,
) -> None:
    checks.check_rank("x", x.shape, (3,), "(B, T, D)")
    checks.check_dim("x", x.shape, -1, config.input_size, "D")
    checks.check_steps("x", x.shape, 1, "step")
    checks.check_dtype("x", x.dtype, dtype)
    if mask is not None:
        checks.check_mask("mask", mask.shape, mask.dtype, (x.shape[0], x.shape[1]))
        checks.check_right_padded("mask", known_values(mask))
    state_shape = (config.num_layers * num_directions(config), x.shape[0], config.hidden_size)
    for name, state in (("h_0", h_0), ("c_0", c_0)):
        if state is not None:
            checks.check_rank(name, state.shape, (3,), "(L * num_directions, B, H)")
            if not all(a is None or a == b for a, b in zip(state.shape, state_shape, strict=True)):
                raise ValueError(f"Expected `{name}` of shape {state_shape}. Received: shape {tuple(state.shape)}")
            checks.check_dtype(name, state.dtype, dtype)


def _check_token_tensor(name: str, tokens: Any) -> None:
    checks.check_rank(name, tokens.shape, (2,), "(B, T)")
    dtype = checks.dtype_name(tokens.dtype)
    if dtype not in ("int32", "int64"):
        raise TypeError(f"Expected `{name}` of dtype int32 or int64. Received: dtype {dtype}")
    checks.check_steps(name, tokens.shape, 1, "step")


def check_tokens(config: LSTMLanguageModelConfig, tokens: Any, mask: Any, known_values: checks.KnownValues) -> None:
    _check_token_tensor("tokens", tokens)
    checks.check_ids("tokens", known_values(tokens), config.vocab_size)
    if mask is not None:
        checks.check_mask("mask", mask.shape, mask.dtype, tuple(tokens.shape))


def check_sample(logits: Any, temperature: float, uniforms: Any) -> None:
    checks.check_rank("logits", logits.shape, (2,), "(B, V)")
    if temperature < 0:
        raise ValueError(f"Expected `temperature` >= 0. Received: {temperature}")
    if temperature > 0:
        if uniforms is None:
            raise ValueError(
                f"Expected `uniforms` of shape ({logits.shape[0]},) when `temperature` > 0. Received: None"
            )
        if tuple(np.shape(uniforms)) != (logits.shape[0],):
            raise ValueError(f"Expected `uniforms` of shape ({logits.shape[0]},). Received: shape {np.shape(uniforms)}")


def check_seq2seq(
    config: Seq2SeqAttentionConfig, source: Any, source_mask: Any, target: Any, known_values: checks.KnownValues
) -> None:
    """``target`` None: greedy decoding, which has none."""
    c = config
    _check_token_tensor("source", source)
    checks.check_ids("source", known_values(source), c.source_vocab_size, "source_vocab_size")
    if target is not None:
        _check_token_tensor("target", target)
        checks.check_same("target", target.shape, 0, "source", source.shape, 0)
        checks.check_ids("target", known_values(target), c.target_vocab_size, "target_vocab_size")
    if source_mask is not None:
        checks.check_mask("source_mask", source_mask.shape, source_mask.dtype, tuple(source.shape))
        checks.check_right_padded("source_mask", known_values(source_mask))


def check_greedy(config: Seq2SeqAttentionConfig, bos: int, steps: int) -> None:
    if not checks.is_int(bos):
        raise TypeError(f"Expected `bos` of type int (a token id). Received: {type(bos).__name__}")
    checks.check_ids("bos", np.asarray(bos), config.target_vocab_size, "target_vocab_size")
    if not checks.is_int(steps):
        raise TypeError(f"Expected `steps` of type int. Received: {type(steps).__name__}")
    if steps < 1:
        raise ValueError(f"Expected `steps` >= 1. Received: {steps}")
