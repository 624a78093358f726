"""Registry entries of the attention family: canonical weight shapes, example inputs, FLOP counts, variants.

The configs and input checks are ``twinmem.configs.attention``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from twinmem.configs.attention import (
    AdditiveAttentionConfig,
    LuongAttentionConfig,
    MultiHeadAttentionConfig,
    QueryValuesConfig,
    ScaledDotProductAttentionConfig,
)
from twinmem.entry import ModelEntry
from twinmem.reference import attention as ref
from twinmem.weights import Shapes

ENTRIES: list[ModelEntry] = []  # gathered, in this order, by twinmem.registry


def _mask(rng: np.random.Generator, batch: int, length: int) -> np.ndarray:
    # Row 0 keeps every position, the last row masks every position (a defined, all-zero result),
    # the rows between keep a random valid prefix (right padding).
    mask = np.zeros((batch, length), dtype=bool)
    mask[0] = True
    for b in range(1, batch - 1):
        mask[b, : rng.integers(1, length + 1)] = True
    return mask


def _query_values_inputs(
    config: QueryValuesConfig, seed: int, batch: int = 4, q_len: int = 3, kv_len: int = 5, query_rank: int = 3
) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    shape_q = (batch, config.query_dim) if query_rank == 2 else (batch, q_len, config.query_dim)
    return {
        "query": rng.standard_normal(shape_q),
        "values": rng.standard_normal((batch, kv_len, config.value_dim)),
        "mask": _mask(rng, batch, kv_len),
    }


def additive_shapes(c: AdditiveAttentionConfig) -> Shapes:
    return {
        "W1": (c.query_dim, c.units),
        "b1": (c.units,),
        "W2": (c.value_dim, c.units),
        "b2": (c.units,),
        "V": (c.units, 1),
        "b_V": (1,),
    }


def _additive_flops(c: AdditiveAttentionConfig, x: Mapping[str, np.ndarray]) -> int:
    B, T, _ = x["values"].shape
    Tq = 1 if x["query"].ndim == 2 else x["query"].shape[1]
    return 2 * (B * Tq * c.query_dim * c.units + B * T * c.value_dim * c.units + B * Tq * T * c.units) + 2 * (
        B * Tq * T * c.value_dim
    )


def _luong_flops(c: LuongAttentionConfig, x: Mapping[str, np.ndarray]) -> int:
    B, T, _ = x["values"].shape
    Tq = 1 if x["query"].ndim == 2 else x["query"].shape[1]
    scores = {
        "dot": 2 * B * Tq * T * c.query_dim,
        "general": 2 * B * T * c.value_dim * c.query_dim + 2 * B * Tq * T * c.query_dim,
        "concat": 2 * (B * Tq * c.query_dim + B * T * c.value_dim) * c.units + 2 * B * Tq * T * c.units,
    }[c.score]
    return scores + 2 * B * Tq * T * c.value_dim


def _sdpa_flops(c: ScaledDotProductAttentionConfig, x: Mapping[str, np.ndarray]) -> int:
    B, Tq, _ = x["query"].shape
    T = x["key"].shape[1]
    return 2 * B * Tq * T * (c.key_dim + c.value_dim)


def _mha_flops(c: MultiHeadAttentionConfig, x: Mapping[str, np.ndarray]) -> int:
    B, Tq, D = x["query"].shape
    T = x["key"].shape[1]
    inner = c.num_heads * c.head_dim
    return 2 * B * (Tq * D * inner * 2 + T * D * inner * 2) + 2 * B * c.num_heads * Tq * T * c.head_dim * 2


def _sdpa_inputs(
    config: ScaledDotProductAttentionConfig,
    seed: int,
    batch: int = 4,
    q_len: int = 5,
    kv_len: int = 5,
    with_mask: bool = True,
) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    inputs = {
        "query": rng.standard_normal((batch, q_len, config.key_dim)),
        "key": rng.standard_normal((batch, kv_len, config.key_dim)),
        "value": rng.standard_normal((batch, kv_len, config.value_dim)),
        "mask": _mask(rng, batch, kv_len),
    }
    return inputs if with_mask else {n: x for n, x in inputs.items() if n != "mask"}


def _mha_inputs(
    config: MultiHeadAttentionConfig, seed: int, batch: int = 4, q_len: int = 5, kv_len: int = 5, with_mask: bool = True
) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    D = config.d_model
    inputs = {
        "query": rng.standard_normal((batch, q_len, D)),
        "key": rng.standard_normal((batch, kv_len, D)),
        "value": rng.standard_normal((batch, kv_len, D)),
        "mask": _mask(rng, batch, kv_len),
    }
    return inputs if with_mask else {n: x for n, x in inputs.items() if n != "mask"}


# The fused path (the framework's attention kernel) on every branch it takes: a padding mask with a
# fully masked row, causal with and without one, and causal queries that are the last Tq < T positions.
_FUSED_VARIANTS: dict[str, dict[str, Any]] = {
    "fused": {"path": "fused"},
    "causal_fused": {"causal": True, "path": "fused"},
    "causal_fused_no_mask": {"causal": True, "path": "fused"},
    "causal_fused_last_queries": {"causal": True, "path": "fused"},
}
_FUSED_INPUTS: dict[str, dict[str, Any]] = {
    "causal_fused_no_mask": {"with_mask": False},
    "causal_fused_last_queries": {"q_len": 3},
}


def _paths(label: str, config: dict[str, Any], inputs: dict[str, Any]) -> list[tuple[str, dict, dict]]:
    return [(f"{p} {label}", {**config, "path": p}, inputs) for p in ("explicit", "fused")]


# Benchmark shapes: (label, config overrides, example-input overrides).
_SEQ_SWEEP = [64, 128, 256, 512]

ENTRIES.append(
    ModelEntry(
        name="additive_attention",
        family="attention",
        class_name="AdditiveAttention",
        config=AdditiveAttentionConfig,
        weight_shapes=additive_shapes,
        example_inputs=_query_values_inputs,
        reference=ref.additive_attention,
        outputs=("context", "attention_weights"),
        flops=_additive_flops,
        variants={"default": {}, "query_2d": {}},
        variant_inputs={"query_2d": {"query_rank": 2}},
        bench_shapes={
            "quick": [
                (
                    "B32 T128 D128",
                    dict(query_dim=128, value_dim=128, units=128),
                    dict(batch=32, q_len=1, kv_len=128, query_rank=2),
                )
            ],
            "full": [
                (
                    f"B32 T{t} D128",
                    dict(query_dim=128, value_dim=128, units=128),
                    dict(batch=32, q_len=1, kv_len=t, query_rank=2),
                )
                for t in _SEQ_SWEEP
            ],
        },
        summary="Bahdanau additive attention, the seed's Attention(units): score = V tanh(W1 q + W2 v)",
    )
)

ENTRIES.append(
    ModelEntry(
        name="luong_attention",
        family="attention",
        class_name="LuongAttention",
        config=LuongAttentionConfig,
        weight_shapes=lambda c: {
            "dot": {},
            "general": {"W_a": (c.value_dim, c.query_dim)},
            "concat": {"W_a": (c.query_dim + c.value_dim, c.units), "v_a": (c.units,)},
        }[c.score],
        example_inputs=_query_values_inputs,
        reference=ref.luong_attention,
        outputs=("context", "attention_weights"),
        flops=_luong_flops,
        variants={
            "dot": {"score": "dot"},
            "general": {"score": "general", "value_dim": 6},
            "concat": {"score": "concat", "value_dim": 6},
        },
        bench_shapes={
            "quick": [
                (
                    "general B32 T128 D128",
                    dict(score="general", query_dim=128, value_dim=128),
                    dict(batch=32, q_len=1, kv_len=128, query_rank=2),
                )
            ],
            "full": [
                (
                    f"{s} B32 T{t} D128",
                    dict(score=s, query_dim=128, value_dim=128, units=128),
                    dict(batch=32, q_len=1, kv_len=t, query_rank=2),
                )
                for s in ("dot", "general", "concat")
                for t in _SEQ_SWEEP
            ],
        },
        summary="Luong attention with dot, general and concat scores",
    )
)

ENTRIES.append(
    ModelEntry(
        name="scaled_dot_product_attention",
        family="attention",
        class_name="ScaledDotProductAttention",
        config=ScaledDotProductAttentionConfig,
        weight_shapes=lambda c: {},
        example_inputs=_sdpa_inputs,
        reference=ref.scaled_dot_product_attention,
        outputs=("output", "attention_weights"),
        flops=_sdpa_flops,
        variants={"default": {}, "causal": {"causal": True}, **_FUSED_VARIANTS},
        variant_inputs=_FUSED_INPUTS,
        bench_shapes={
            "quick": _paths(
                "B8 T256 d64 causal", dict(key_dim=64, value_dim=64, causal=True), dict(batch=8, q_len=256, kv_len=256)
            ),
            "full": [
                shape
                for t in _SEQ_SWEEP
                for shape in _paths(
                    f"B8 T{t} d64 causal", dict(key_dim=64, value_dim=64, causal=True), dict(batch=8, q_len=t, kv_len=t)
                )
            ],
        },
        summary="softmax(Q K^T / sqrt(d_k)) V with padding and causal masks",
    )
)

ENTRIES.append(
    ModelEntry(
        name="multi_head_attention",
        family="attention",
        class_name="MultiHeadAttention",
        config=MultiHeadAttentionConfig,
        weight_shapes=lambda c: {
            "W_q": (c.d_model, c.num_heads * c.head_dim),
            "b_q": (c.num_heads * c.head_dim,),
            "W_k": (c.d_model, c.num_heads * c.head_dim),
            "b_k": (c.num_heads * c.head_dim,),
            "W_v": (c.d_model, c.num_heads * c.head_dim),
            "b_v": (c.num_heads * c.head_dim,),
            "W_o": (c.num_heads * c.head_dim, c.d_model),
            "b_o": (c.d_model,),
        },
        example_inputs=_mha_inputs,
        reference=ref.multi_head_attention,
        outputs=("output", "attention_weights"),
        flops=_mha_flops,
        variants={"default": {}, "causal": {"causal": True}, **_FUSED_VARIANTS},
        variant_inputs=_FUSED_INPUTS,
        bench_shapes={
            "quick": _paths(
                "B8 T128 D256 H4 causal",
                dict(d_model=256, num_heads=4, head_dim=64, causal=True),
                dict(batch=8, q_len=128, kv_len=128),
            ),
            "full": [
                shape
                for t in _SEQ_SWEEP
                for shape in _paths(
                    f"B8 T{t} D256 H4 causal",
                    dict(d_model=256, num_heads=4, head_dim=64, causal=True),
                    dict(batch=8, q_len=t, kv_len=t),
                )
            ],
        },
        summary="multi-head attention with Q/K/V/O projections, masks and a key/value cache",
    )
)
