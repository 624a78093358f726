"""Registry entries of the recurrent family: canonical weight shapes, example inputs, FLOP counts, variants.

The configs and input checks are ``twinmem.configs.rnn``; the canonical layout of a recurrent layer
(cells, gate orders) is ``twinmem.layouts.recurrent``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from twinmem.configs.rnn import (
    GRUConfig,
    LSTMConfig,
    LSTMLanguageModelConfig,
    RecurrentConfig,
    RNNClassifierConfig,
    RNNConfig,
    Seq2SeqAttentionConfig,
    attention_of,
    encoder_of,
    kind_of,
    lstm_of,
    num_directions,
    rnn_of,
)
from twinmem.entry import ModelEntry
from twinmem.layouts.recurrent import GATES, recurrent_shapes
from twinmem.reference import rnn as ref
from twinmem.specs.attention import additive_shapes
from twinmem.weights import Shapes

ENTRIES: list[ModelEntry] = []  # gathered, in this order, by twinmem.registry


def lengths_mask(rng: np.random.Generator, batch: int, length: int) -> np.ndarray:
    # Row 0 is full, the others keep a random valid prefix of at least one step (right padding).
    lengths = np.concatenate([[length], rng.integers(1, length + 1, batch - 1)])
    return np.arange(length)[None, :] < lengths[:, None]


def _recurrent_inputs(
    config: RecurrentConfig,
    seed: int,
    batch: int = 3,
    steps: int = 5,
    with_mask: bool = True,
    with_state: bool = False,
) -> dict[str, np.ndarray]:
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


def recurrent_flops(config: RecurrentConfig, B: int, T: int) -> int:
    G, H, D = GATES[kind_of(config)], config.hidden_size, num_directions(config)
    total = 0
    for k in range(config.num_layers * D):
        in_dim = config.input_size if k < D else D * H
        total += 2 * B * T * (in_dim + H) * G * H
    return total


def _variants(extra: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
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


def _bench(quick_path: str) -> dict[str, list[tuple[str, dict[str, Any], dict[str, Any]]]]:
    # One quick shape per kind, on the fused path: the twin's fastest, which the twin / built-in table
    # compares (timing both paths here took make bench past its 5 minutes). The full profile sweeps both.
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
        "fused",
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
        "fused",
        "GRU (reset after the recurrent matmul, as torch and Keras reset_after=True); explicit and fused",
    ),
):
    ENTRIES.append(
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


def _classifier_inputs(config: RNNClassifierConfig, seed: int, batch: int = 3, steps: int = 5) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"x": rng.standard_normal((batch, steps, config.input_size)), "mask": lengths_mask(rng, batch, steps)}


ENTRIES.append(
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


def _lm_inputs(config: LSTMLanguageModelConfig, seed: int, batch: int = 3, steps: int = 5) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "tokens": rng.integers(0, config.vocab_size, (batch, steps)).astype(np.int64),
        "mask": lengths_mask(rng, batch, steps),
    }


ENTRIES.append(
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


def _seq2seq_shapes(c: Seq2SeqAttentionConfig) -> Shapes:
    attention = additive_shapes(attention_of(c))
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


def _seq2seq_inputs(
    config: Seq2SeqAttentionConfig, seed: int, batch: int = 3, source_len: int = 6, target_len: int = 4
) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "source": rng.integers(0, config.source_vocab_size, (batch, source_len)).astype(np.int64),
        "source_mask": lengths_mask(rng, batch, source_len),
        "target": rng.integers(0, config.target_vocab_size, (batch, target_len)).astype(np.int64),
    }


def _seq2seq_flops(c: Seq2SeqAttentionConfig, x: Mapping[str, np.ndarray]) -> int:
    B, S = x["source"].shape
    T = x["target"].shape[1]
    H, E, U = c.hidden_size, c.embed_dim, c.attention_units
    # Per decoder step the attention projects the query and (again) every value, scores and mixes.
    attention = 2 * B * (H * U + S * H * U + S * U) + 2 * B * S * H
    decoder = 2 * B * (E + H + H) * 3 * H + 2 * B * H * c.target_vocab_size
    return recurrent_flops(encoder_of(c), B, S) + T * (attention + decoder)


ENTRIES.append(
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
