"""Configs, canonical weight shapes, example inputs and FLOP counts of the recurrent family.

The configs are the single source of defaults: both twins and the reference take them as they are.

Canonical layout of a recurrent layer (``rnn``, ``lstm``, ``gru``): one cell per layer and
direction, ``cells.{k}`` with k = layer * num_directions + direction (direction 0 = forward,
1 = backward), the order of torch's ``h_n``. Each cell holds

* ``W_ih`` (D_in, G H) and ``W_hh`` (H, G H), kernels (in, out): the gate pre-activations are
  ``x_t @ W_ih + h_tm1 @ W_hh + b``, gate g in columns [g H, (g + 1) H);
* ``b``: (G H,) for ``rnn`` and ``lstm`` (one bias: torch's b_ih + b_hh, Keras' ``bias``); for ``gru``
  (2, 3 H), row 0 the input bias and row 1 the recurrent bias (Keras ``reset_after=True``), because
  the reset gate multiplies the recurrent term *with* its bias and the two cannot be summed.

Gate orders: ``rnn`` G = 1; ``lstm`` G = 4, gates i, f, g, o (torch ``W_ii|W_if|W_ig|W_io`` and Keras
``i, f, c, o`` agree); ``gru`` G = 3, gates z, r, n (Keras' ``z, r, h``). PyTorch's GRU orders its
gates r, z, n and keeps two bias vectors ``b_ih``, ``b_hh`` (3H each), with
n = tanh(W_in x + b_in + r * (W_hn h + b_hn)); Keras' GRU with ``reset_after=True`` orders them
z, r, h with a (2, 3H) bias and computes the same function. The canonical GRU layout is Keras'
(so the Keras fused path holds the canonical variables as they are); the torch fused path swaps
the r and z column blocks and transposes to reach ``weight_ih_l{k}`` (3H, D), ``bias_ih_l{k}`` etc.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twinmem import checks
from twinmem.reference import rnn as ref
from twinmem.registry import ModelEntry, register

GATES = {"rnn": 1, "lstm": 4, "gru": 3}


@dataclass(frozen=True)
class RNNConfig:
    input_size: int = 5  # D, features of each step
    hidden_size: int = 6  # H, features of the hidden state
    num_layers: int = 1  # L, stacked layers; layer l > 0 reads layer l - 1's output (D H features)
    bidirectional: bool = False  # num_directions = 2: a backward pass, outputs concatenated
    dropout: float = 0.0  # dropout on each layer's output but the last's, in training only
    activation: str = "tanh"  # "tanh" | "relu"
    path: str = "explicit"  # "explicit" (a loop over the cell) | "fused" (the framework's own kernel)


@dataclass(frozen=True)
class LSTMConfig:
    input_size: int = 5  # D
    hidden_size: int = 6  # H
    num_layers: int = 1  # L
    bidirectional: bool = False
    dropout: float = 0.0  # between layers, training only
    path: str = "explicit"  # "explicit" | "fused"


@dataclass(frozen=True)
class GRUConfig:
    input_size: int = 5  # D
    hidden_size: int = 6  # H
    num_layers: int = 1  # L
    bidirectional: bool = False
    dropout: float = 0.0  # between layers, training only
    path: str = "explicit"  # "explicit" | "fused"


@dataclass(frozen=True)
class RNNClassifierConfig:
    input_size: int = 3  # D, the seed's input_size
    hidden_size: int = 10  # H, the seed's hidden_size
    output_size: int = 5  # O, the seed's output_size
    activation: str = "tanh"  # of the Elman RNN
    path: str = "explicit"  # of the Elman RNN


@dataclass(frozen=True)
class LSTMLanguageModelConfig:
    vocab_size: int = 11  # V (the seed: len(TEXT.vocab))
    embed_dim: int = 6  # E (the seed: 100)
    hidden_size: int = 7  # H (the seed: 256)
    num_layers: int = 2  # L (the seed: 2)
    dropout: float = 0.5  # between the LSTM layers, training only (the seed: 0.5)
    path: str = "explicit"  # of the LSTM


def kind_of(config) -> str:
    return {RNNConfig: "rnn", LSTMConfig: "lstm", GRUConfig: "gru"}[type(config)]


def num_directions(config) -> int:
    return 2 if config.bidirectional else 1


def check_config(config) -> None:
    if config.path not in ("explicit", "fused"):
        raise ValueError(f"Expected `path` to be 'explicit' or 'fused'. Received: {config.path!r}")
    if getattr(config, "activation", "tanh") not in ("tanh", "relu"):
        raise ValueError(f"Expected `activation` to be 'tanh' or 'relu'. Received: {config.activation!r}")
    if not 0.0 <= config.dropout < 1.0:
        raise ValueError(f"Expected `dropout` in [0, 1). Received: {config.dropout}")


def recurrent_shapes(config, prefix: str = "") -> dict[str, tuple[int, ...]]:
    G, H, D = GATES[kind_of(config)], config.hidden_size, num_directions(config)
    shapes = {}
    for k in range(config.num_layers * D):
        in_dim = config.input_size if k < D else D * H
        shapes[f"{prefix}cells.{k}.W_ih"] = (in_dim, G * H)
        shapes[f"{prefix}cells.{k}.W_hh"] = (H, G * H)
        shapes[f"{prefix}cells.{k}.b"] = (2, G * H) if G == 3 else (G * H,)
    return shapes


def lengths_mask(rng: np.random.Generator, batch: int, length: int) -> np.ndarray:
    # Row 0 is full, the others keep a random valid prefix of at least one step (right padding).
    lengths = np.concatenate([[length], rng.integers(1, length + 1, batch - 1)])
    return np.arange(length)[None, :] < lengths[:, None]


def _recurrent_inputs(config, seed: int, batch: int = 3, steps: int = 5, with_mask: bool = True, with_state=False):
    rng = np.random.default_rng(seed)
    x = {"x": rng.standard_normal((batch, steps, config.input_size))}
    if with_mask:
        x["mask"] = lengths_mask(rng, batch, steps)
    if with_state:
        state_shape = (config.num_layers * num_directions(config), batch, config.hidden_size)
        x["h_0"] = rng.standard_normal(state_shape)
        if kind_of(config) == "lstm":
            x["c_0"] = rng.standard_normal(state_shape)
    return x


def recurrent_flops(config, B: int, T: int) -> int:
    G, H, D = GATES[kind_of(config)], config.hidden_size, num_directions(config)
    total = 0
    for k in range(config.num_layers * D):
        in_dim = config.input_size if k < D else D * H
        total += 2 * B * T * (in_dim + H) * G * H
    return total


def _variants(extra: dict) -> dict:
    return {
        "default": {},
        "fused": {"path": "fused"},
        "bidirectional": {"bidirectional": True},
        "bidirectional_fused": {"bidirectional": True, "path": "fused"},
        "two_layers": {"num_layers": 2, "dropout": 0.3},
        "two_layers_fused": {"num_layers": 2, "dropout": 0.3, "path": "fused"},
        "two_layers_bidirectional_fused": {"num_layers": 2, "bidirectional": True, "path": "fused"},
        "initial_state": {"num_layers": 2, "bidirectional": True},
        "initial_state_fused": {"num_layers": 2, "bidirectional": True, "path": "fused"},
        "no_mask": {},
        "no_mask_fused": {"path": "fused"},
        **extra,
    }


_VARIANT_INPUTS = {
    "initial_state": {"with_state": True},
    "initial_state_fused": {"with_state": True},
    "no_mask": {"with_mask": False},
    "no_mask_fused": {"with_mask": False},
}

# DeepBench-like shapes, scaled to a small CPU: (label, config overrides, input overrides).
_FULL = [(h, b, t) for h in (128, 256, 512, 1024) for b in (16, 64) for t in (50, 200)]


def _bench(quick_path: str) -> dict:
    # One quick shape per kind (the quick profile's budget); the family's quick cases cover both paths
    # (rnn and gru explicit, lstm fused) and the full profile sweeps both paths for every kind.
    return {
        "quick": [
            (
                f"{quick_path} H128 B16 T50",
                dict(input_size=128, hidden_size=128, path=quick_path),
                dict(batch=16, steps=50),
            )
        ],
        "full": [
            (
                f"{p} H{h} B{b} T{t}",
                dict(input_size=h, hidden_size=h, path=p),
                dict(batch=b, steps=t),
            )
            for p in ("explicit", "fused")
            for h, b, t in _FULL
        ],
    }


for _name, _cls, _config, _reference, _outputs, _extra, _quick, _summary in (
    (
        "rnn",
        "RNN",
        RNNConfig,
        ref.rnn,
        ("output", "h_n"),
        {"relu": {"activation": "relu"}, "relu_fused": {"activation": "relu", "path": "fused"}},
        "explicit",
        "Elman RNN (tanh or relu), h_t = act(x_t W_ih + h_tm1 W_hh + b); explicit and fused paths",
    ),
    (
        "lstm",
        "LSTM",
        LSTMConfig,
        ref.lstm,
        ("output", "h_n", "c_n"),
        {},
        "fused",
        "LSTM (gates i, f, g, o) with layers, directions, masks; explicit and fused paths",
    ),
    (
        "gru",
        "GRU",
        GRUConfig,
        ref.gru,
        ("output", "h_n"),
        {},
        "explicit",
        "GRU (reset after the recurrent matmul, as torch and Keras reset_after=True); explicit and fused",
    ),
):
    register(
        ModelEntry(
            name=_name,
            family="rnn",
            class_name=_cls,
            config=_config,
            weight_shapes=recurrent_shapes,
            example_inputs=_recurrent_inputs,
            reference=_reference,
            outputs=_outputs,
            flops=lambda c, x: recurrent_flops(c, *x["x"].shape[:2]),
            variants=_variants(_extra),
            variant_inputs=_VARIANT_INPUTS,
            bench_shapes=_bench(_quick),
            summary=_summary,
        )
    )


def _classifier_inputs(config, seed: int, batch: int = 3, steps: int = 5):
    rng = np.random.default_rng(seed)
    return {"x": rng.standard_normal((batch, steps, config.input_size)), "mask": lengths_mask(rng, batch, steps)}


def rnn_of(config: RNNClassifierConfig) -> RNNConfig:
    """The classifier's Elman RNN: one layer, one direction."""
    return RNNConfig(
        input_size=config.input_size, hidden_size=config.hidden_size, activation=config.activation, path=config.path
    )


register(
    ModelEntry(
        name="rnn_classifier",
        family="rnn",
        class_name="RNNClassifier",
        config=RNNClassifierConfig,
        weight_shapes=lambda c: {
            **recurrent_shapes(rnn_of(c), "rnn."),
            "W_y": (c.hidden_size, c.output_size),
            "b_y": (c.output_size,),
        },
        example_inputs=_classifier_inputs,
        reference=ref.rnn_classifier,
        outputs=("logits",),
        flops=lambda c, x: (
            recurrent_flops(rnn_of(c), *x["x"].shape[:2]) + 2 * x["x"].shape[0] * c.hidden_size * c.output_size
        ),
        variants={"default": {}, "fused": {"path": "fused"}},
        bench_shapes={
            "quick": [
                ("H128 B16 T50", dict(input_size=128, hidden_size=128, output_size=10), dict(batch=16, steps=50))
            ],
            "full": [
                (
                    f"{p} H{h} B{b} T{t}",
                    dict(input_size=h, hidden_size=h, output_size=10, path=p),
                    dict(batch=b, steps=t),
                )
                for p in ("explicit", "fused")
                for h, b, t in _FULL
            ],
        },
        summary="the seed's RNN: an Elman RNN over a masked sequence, a linear layer on the last valid step",
    )
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


def _lm_inputs(config, seed: int, batch: int = 3, steps: int = 5):
    rng = np.random.default_rng(seed)
    return {
        "tokens": rng.integers(0, config.vocab_size, (batch, steps)).astype(np.int64),
        "mask": lengths_mask(rng, batch, steps),
    }


register(
    ModelEntry(
        name="lstm_language_model",
        family="rnn",
        class_name="LSTMLanguageModel",
        config=LSTMLanguageModelConfig,
        weight_shapes=lambda c: {
            "E": (c.vocab_size, c.embed_dim),
            **recurrent_shapes(lstm_of(c), "lstm."),
            "W_y": (c.hidden_size, c.vocab_size),
            "b_y": (c.vocab_size,),
        },
        example_inputs=_lm_inputs,
        reference=ref.lstm_language_model,
        outputs=("logits",),
        flops=lambda c, x: (
            recurrent_flops(lstm_of(c), *x["tokens"].shape) + 2 * x["tokens"].size * c.hidden_size * c.vocab_size
        ),
        variants={"default": {}, "fused": {"path": "fused"}},
        bench_shapes={
            "quick": [
                (
                    "V1000 E64 H128 B16 T50",
                    dict(vocab_size=1000, embed_dim=64, hidden_size=128, path="fused"),
                    dict(batch=16, steps=50),
                )
            ],
            "full": [
                (
                    f"{p} V10000 E100 H{h} B{b} T{t}",
                    dict(vocab_size=10000, embed_dim=100, hidden_size=h, path=p),
                    dict(batch=b, steps=t),
                )
                for p in ("explicit", "fused")
                for h in (256, 512)
                for b, t in ((16, 50), (64, 200))
            ],
        },
        summary="the seed's TextGenerator: embedding, 2-layer LSTM with dropout, vocabulary projection; sampling",
    )
)


# Input checks, shared by both twins so that both say the same words for the same mistake.
# `known_values` is the twin's own (tf_impl.core / torch_impl.core): NumPy values, None in a traced graph.
def check_recurrent_inputs(config, x, mask, h_0, c_0, dtype: str, known_values: checks.KnownValues) -> None:
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


def _check_token_tensor(name: str, tokens) -> None:
    checks.check_rank(name, tokens.shape, (2,), "(B, T)")
    dtype = checks.dtype_name(tokens.dtype)
    if dtype not in ("int32", "int64"):
        raise TypeError(f"Expected `{name}` of dtype int32 or int64. Received: dtype {dtype}")
    checks.check_steps(name, tokens.shape, 1, "step")


def check_tokens(config, tokens, mask, known_values: checks.KnownValues) -> None:
    _check_token_tensor("tokens", tokens)
    checks.check_ids("tokens", known_values(tokens), config.vocab_size)
    if mask is not None:
        checks.check_mask("mask", mask.shape, mask.dtype, tuple(tokens.shape))


def check_sample(logits, temperature: float, uniforms) -> None:
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


@dataclass(frozen=True)
class Seq2SeqAttentionConfig:
    source_vocab_size: int = 9  # V_s
    target_vocab_size: int = 10  # V_t
    embed_dim: int = 5  # E, of both embeddings
    hidden_size: int = 6  # H, of the encoder and decoder GRUs
    attention_units: int = 7  # U, width of the Bahdanau attention's tanh layer
    path: str = "explicit"  # of the encoder GRU (the decoder runs step by step, attention in between)


def encoder_of(config: Seq2SeqAttentionConfig) -> GRUConfig:
    """The encoder: one unidirectional GRU layer over the source embeddings."""
    return GRUConfig(input_size=config.embed_dim, hidden_size=config.hidden_size, path=config.path)


def attention_of(config: Seq2SeqAttentionConfig):
    """The decoder's Bahdanau attention: query = decoder state, values = encoder outputs."""
    from twinmem.specs.attention import AdditiveAttentionConfig

    H = config.hidden_size
    return AdditiveAttentionConfig(query_dim=H, value_dim=H, units=config.attention_units)


def _seq2seq_shapes(c: Seq2SeqAttentionConfig) -> dict[str, tuple[int, ...]]:
    from twinmem import registry

    attention = registry.get("additive_attention").weight_shapes(attention_of(c))
    H, E = c.hidden_size, c.embed_dim
    return {
        "E_source": (c.source_vocab_size, E),
        **recurrent_shapes(encoder_of(c), "encoder."),
        "E_target": (c.target_vocab_size, E),
        **{f"attention.{n}": s for n, s in attention.items()},
        "decoder.W_ih": (E + H, 3 * H),
        "decoder.W_hh": (H, 3 * H),
        "decoder.b": (2, 3 * H),
        "W_y": (H, c.target_vocab_size),
        "b_y": (c.target_vocab_size,),
    }


def _seq2seq_inputs(config, seed: int, batch: int = 3, source_len: int = 6, target_len: int = 4):
    rng = np.random.default_rng(seed)
    return {
        "source": rng.integers(0, config.source_vocab_size, (batch, source_len)).astype(np.int64),
        "source_mask": lengths_mask(rng, batch, source_len),
        "target": rng.integers(0, config.target_vocab_size, (batch, target_len)).astype(np.int64),
    }


def _seq2seq_flops(c: Seq2SeqAttentionConfig, x) -> int:
    B, S = x["source"].shape
    T = x["target"].shape[1]
    H, E, U = c.hidden_size, c.embed_dim, c.attention_units
    # Per decoder step the attention projects the query and (again) every value, scores and mixes.
    attention = 2 * B * (H * U + S * H * U + S * U) + 2 * B * S * H
    decoder = 2 * B * (E + H + H) * 3 * H + 2 * B * H * c.target_vocab_size
    return recurrent_flops(encoder_of(c), B, S) + T * (attention + decoder)


register(
    ModelEntry(
        name="seq2seq_attention",
        family="rnn",
        class_name="Seq2SeqAttention",
        config=Seq2SeqAttentionConfig,
        weight_shapes=_seq2seq_shapes,
        example_inputs=_seq2seq_inputs,
        reference=ref.seq2seq_attention,
        outputs=("logits", "attention_weights"),
        flops=_seq2seq_flops,
        variants={"default": {}, "fused": {"path": "fused"}},
        bench_shapes={
            "quick": [
                (
                    "V1000 E64 H128 B16 S20 T12",
                    dict(
                        source_vocab_size=1000,
                        target_vocab_size=1000,
                        embed_dim=64,
                        hidden_size=128,
                        attention_units=128,
                    ),
                    dict(batch=16, source_len=20, target_len=12),
                )
            ],
            "full": [
                (
                    f"{p} V8000 E256 H{h} B{b} S50 T50",
                    dict(
                        source_vocab_size=8000,
                        target_vocab_size=8000,
                        embed_dim=256,
                        hidden_size=h,
                        attention_units=h,
                        path=p,
                    ),
                    dict(batch=b, source_len=50, target_len=50),
                )
                for p in ("explicit", "fused")
                for h in (256, 512, 1024)
                for b in (16, 64)
            ],
        },
        summary="the seed's translation example: GRU encoder, GRU decoder with Bahdanau attention; greedy decoding",
    )
)


def check_seq2seq(config, source, source_mask, target, known_values: checks.KnownValues) -> None:
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


def check_greedy(config, bos: int, steps: int) -> None:
    if not checks.is_int(bos):
        raise TypeError(f"Expected `bos` of type int (a token id). Received: {type(bos).__name__}")
    checks.check_ids("bos", np.asarray(bos), config.target_vocab_size, "target_vocab_size")
    if not checks.is_int(steps):
        raise TypeError(f"Expected `steps` of type int. Received: {type(steps).__name__}")
    if steps < 1:
        raise ValueError(f"Expected `steps` >= 1. Received: {steps}")
