"""Configs, canonical weight shapes, example inputs and FLOP counts of the attention family.

The configs are the single source of defaults: both twins and the reference take them as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twinmem import checks
from twinmem.reference import attention as ref
from twinmem.registry import ModelEntry, register


@dataclass(frozen=True)
class AdditiveAttentionConfig:
    query_dim: int = 8  # Dq, features of the query (decoder state)
    value_dim: int = 6  # Dv, features of the values (encoder outputs)
    units: int = 10  # U, width of the tanh layer (the seed's `Attention(units)`)


@dataclass(frozen=True)
class LuongAttentionConfig:
    query_dim: int = 8  # Dq
    value_dim: int = 8  # Dv; `dot` needs Dv == Dq
    score: str = "general"  # "dot" | "general" | "concat"
    units: int = 10  # U, width of the tanh layer of `concat`


@dataclass(frozen=True)
class ScaledDotProductAttentionConfig:
    key_dim: int = 8  # d_k, features of queries and keys
    value_dim: int = 6  # d_v
    causal: bool = False  # query i sees keys j <= i + (T - Tq): queries are the last Tq positions


@dataclass(frozen=True)
class MultiHeadAttentionConfig:
    d_model: int = 16  # D, features in and out
    num_heads: int = 4  # H
    head_dim: int = 4  # d_h, features per head (d_model // num_heads in the paper)
    causal: bool = False


def _mask(rng: np.random.Generator, batch: int, length: int) -> np.ndarray:
    # Row 0 keeps every position, the last row masks every position (a defined, all-zero result),
    # the rows between keep a random valid prefix (right padding).
    mask = np.zeros((batch, length), dtype=bool)
    mask[0] = True
    for b in range(1, batch - 1):
        mask[b, : rng.integers(1, length + 1)] = True
    return mask


def _query_values_inputs(config, seed: int, batch: int = 4, q_len: int = 3, kv_len: int = 5, query_rank: int = 3):
    rng = np.random.default_rng(seed)
    shape_q = (batch, config.query_dim) if query_rank == 2 else (batch, q_len, config.query_dim)
    return {
        "query": rng.standard_normal(shape_q),
        "values": rng.standard_normal((batch, kv_len, config.value_dim)),
        "mask": _mask(rng, batch, kv_len),
    }


def _additive_flops(c: AdditiveAttentionConfig, x) -> int:
    B, T, _ = x["values"].shape
    Tq = 1 if x["query"].ndim == 2 else x["query"].shape[1]
    return 2 * (B * Tq * c.query_dim * c.units + B * T * c.value_dim * c.units + B * Tq * T * c.units) + 2 * (
        B * Tq * T * c.value_dim
    )


def _luong_flops(c: LuongAttentionConfig, x) -> int:
    B, T, _ = x["values"].shape
    Tq = 1 if x["query"].ndim == 2 else x["query"].shape[1]
    scores = {
        "dot": 2 * B * Tq * T * c.query_dim,
        "general": 2 * B * T * c.value_dim * c.query_dim + 2 * B * Tq * T * c.query_dim,
        "concat": 2 * (B * Tq * c.query_dim + B * T * c.value_dim) * c.units + 2 * B * Tq * T * c.units,
    }[c.score]
    return scores + 2 * B * Tq * T * c.value_dim


def _sdpa_flops(c: ScaledDotProductAttentionConfig, x) -> int:
    B, Tq, _ = x["query"].shape
    T = x["key"].shape[1]
    return 2 * B * Tq * T * (c.key_dim + c.value_dim)


def _mha_flops(c: MultiHeadAttentionConfig, x) -> int:
    B, Tq, D = x["query"].shape
    T = x["key"].shape[1]
    inner = c.num_heads * c.head_dim
    return 2 * B * (Tq * D * inner * 2 + T * D * inner * 2) + 2 * B * c.num_heads * Tq * T * c.head_dim * 2


def _sdpa_inputs(config, seed: int, batch: int = 4, q_len: int = 5, kv_len: int = 5):
    rng = np.random.default_rng(seed)
    return {
        "query": rng.standard_normal((batch, q_len, config.key_dim)),
        "key": rng.standard_normal((batch, kv_len, config.key_dim)),
        "value": rng.standard_normal((batch, kv_len, config.value_dim)),
        "mask": _mask(rng, batch, kv_len),
    }


def _mha_inputs(config, seed: int, batch: int = 4, q_len: int = 5, kv_len: int = 5):
    rng = np.random.default_rng(seed)
    D = config.d_model
    return {
        "query": rng.standard_normal((batch, q_len, D)),
        "key": rng.standard_normal((batch, kv_len, D)),
        "value": rng.standard_normal((batch, kv_len, D)),
        "mask": _mask(rng, batch, kv_len),
    }


# Benchmark shapes: (label, config overrides, example-input overrides).
_SEQ_SWEEP = [64, 128, 256, 512]

register(
    ModelEntry(
        name="additive_attention",
        family="attention",
        class_name="AdditiveAttention",
        config=AdditiveAttentionConfig,
        weight_shapes=lambda c: {
            "W1": (c.query_dim, c.units),
            "b1": (c.units,),
            "W2": (c.value_dim, c.units),
            "b2": (c.units,),
            "V": (c.units, 1),
            "b_V": (1,),
        },
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

register(
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

register(
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
        variants={"default": {}, "causal": {"causal": True}},
        bench_shapes={
            "quick": [
                (
                    "B8 T256 d64 causal",
                    dict(key_dim=64, value_dim=64, causal=True),
                    dict(batch=8, q_len=256, kv_len=256),
                )
            ],
            "full": [
                (
                    f"B8 T{t} d64 causal",
                    dict(key_dim=64, value_dim=64, causal=True),
                    dict(batch=8, q_len=t, kv_len=t),
                )
                for t in _SEQ_SWEEP
            ],
        },
        summary="softmax(Q K^T / sqrt(d_k)) V with padding and causal masks",
    )
)

register(
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
        variants={"default": {}, "causal": {"causal": True}},
        bench_shapes={
            "quick": [
                (
                    "B8 T128 D256 H4 causal",
                    dict(d_model=256, num_heads=4, head_dim=64, causal=True),
                    dict(batch=8, q_len=128, kv_len=128),
                )
            ],
            "full": [
                (
                    f"B8 T{t} D256 H4 causal",
                    dict(d_model=256, num_heads=4, head_dim=64, causal=True),
                    dict(batch=8, q_len=t, kv_len=t),
                )
                for t in _SEQ_SWEEP
            ],
        },
        summary="multi-head attention with Q/K/V/O projections, masks and a key/value cache",
    )
)


# Input checks, shared by both twins so that both say the same words for the same mistake.
def check_query_values(config, query, values, mask, dtype: str) -> None:
    checks.check_rank("query", query.shape, (2, 3), "(B, Dq) or (B, Tq, Dq)")
    checks.check_dim("query", query.shape, -1, config.query_dim, "Dq")
    checks.check_rank("values", values.shape, (3,), "(B, T, Dv)")
    checks.check_dim("values", values.shape, -1, config.value_dim, "Dv")
    checks.check_same("values", values.shape, 0, "query", query.shape, 0)
    checks.check_dtype("query", query.dtype, dtype)
    checks.check_dtype("values", values.dtype, dtype)
    if mask is not None:
        checks.check_mask("mask", mask.shape, mask.dtype, (values.shape[0], values.shape[1]))


def check_query_key_value(
    config, query, key, value, mask, key_dim: int, value_dim: int, dtype: str, kv_len: int | None = None
) -> None:
    """``kv_len``: the cache's max_len when a cache is used (the mask then covers every cache slot)."""
    checks.check_rank("query", query.shape, (3,), "(B, Tq, d)")
    checks.check_rank("key", key.shape, (3,), "(B, T, d)")
    checks.check_rank("value", value.shape, (3,), "(B, T, d)")
    checks.check_dim("query", query.shape, -1, key_dim, "features")
    checks.check_dim("key", key.shape, -1, key_dim, "features")
    checks.check_dim("value", value.shape, -1, value_dim, "features")
    checks.check_same("key", key.shape, 1, "value", value.shape, 1)
    checks.check_same("key", key.shape, 0, "query", query.shape, 0)
    checks.check_same("value", value.shape, 0, "query", query.shape, 0)
    if kv_len is not None and None not in (query.shape[1], key.shape[1]) and query.shape[1] != key.shape[1]:
        # The cache appends the new keys and takes the queries to be those same new positions.
        raise ValueError(
            "Expected `query`, `key` and `value` with the same number of steps (the new positions) when a "
            f"cache is given. Received: shapes {tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}"
        )
    for name, x in (("query", query), ("key", key), ("value", value)):
        checks.check_dtype(name, x.dtype, dtype)
    if mask is not None:
        length = key.shape[1] if kv_len is None else kv_len
        checks.check_mask("mask", mask.shape, mask.dtype, (query.shape[0], length))


def check_cache_size(batch_size: int, max_len: int) -> None:
    for name, value in (("batch_size", batch_size), ("max_len", max_len)):
        if not checks.is_int(value) or value < 1:
            raise ValueError(f"Expected `{name}` of a KV cache to be an int >= 1. Received: {value!r}")


def check_cache_room(length: int, steps: int, max_len: int) -> None:
    if length + steps > max_len:
        raise ValueError(f"KV cache overflow: {length} + {steps} positions exceed max_len = {max_len}")
