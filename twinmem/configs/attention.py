"""Configs and input checks of the attention family: the ground floor, importing nothing of the models.

The configs are the single source of defaults: both twins and the reference take them as they are.
The checks are shared by both twins, so that both say the same words for the same mistake.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from twinmem import checks

PATHS = ("explicit", "fused")  # the twin's own steps | the framework's kernel


@dataclass(frozen=True)
class AdditiveAttentionConfig(checks.CheckedConfig):
    query_dim: int = 8  # Dq, features of the query (decoder state)
    value_dim: int = 6  # Dv, features of the values (encoder outputs)
    units: int = 10  # U, width of the tanh layer (the seed's `Attention(units)`)


@dataclass(frozen=True)
class LuongAttentionConfig(checks.CheckedConfig):
    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {"score": ("dot", "general", "concat")}
    query_dim: int = 8  # Dq
    value_dim: int = 8  # Dv; `dot` needs Dv == Dq
    score: str = "general"  # "dot" | "general" | "concat"
    units: int = 10  # U, width of the tanh layer of `concat`


@dataclass(frozen=True)
class ScaledDotProductAttentionConfig(checks.CheckedConfig):
    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {"path": PATHS}
    key_dim: int = 8  # d_k, features of queries and keys
    value_dim: int = 6  # d_v
    causal: bool = False  # query i sees keys j <= i + (T - Tq): queries are the last Tq positions
    path: str = "explicit"  # "explicit" (scores, masked softmax, weights @ V) | "fused" (the framework's kernel)


@dataclass(frozen=True)
class MultiHeadAttentionConfig(checks.CheckedConfig):
    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {"path": PATHS}
    d_model: int = 16  # D, features in and out
    num_heads: int = 4  # H
    head_dim: int = 4  # d_h, features per head (d_model // num_heads in the paper)
    causal: bool = False
    path: str = "explicit"  # "explicit" | "fused", as ScaledDotProductAttentionConfig


# The configs of the attentions that take (query, values), and of those that take (query, key, value).
QueryValuesConfig = AdditiveAttentionConfig | LuongAttentionConfig
QueryKeyValueConfig = ScaledDotProductAttentionConfig | MultiHeadAttentionConfig


def check_query_values(config: QueryValuesConfig, query: Any, values: Any, mask: Any, dtype: str) -> None:
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
    config: QueryKeyValueConfig,
    query: Any,
    key: Any,
    value: Any,
    mask: Any,
    key_dim: int,
    value_dim: int,
    dtype: str,
    kv_len: int | None = None,
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
