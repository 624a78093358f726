"""Configs, constants and input checks of the memory-network family: the ground floor.

The configs are the single source of defaults: both twins and the reference take them as they are.
What needs no framework and is shared by the three sides lives here too: the position-encoding
matrix of MemN2N, the NTM's one epsilon, the widths of its heads, and the input checks (so both
twins say the same words).

Token id 0 is padding in every model of this family: a padded word adds nothing to its sentence's
encoding, and a memory slot whose words are all padding is a padded slot (exactly zero attention).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from twinmem import checks

# The NTM's one epsilon, used the same way on all three sides (see ``ntm_address``): cosine
# similarity divides by sqrt(|u|^2 + EPS), never 0 and differentiable there (a zero key or memory
# row gives cosine 0 and a finite gradient, where |u| = sqrt(|u|^2) has an infinite derivative at
# 0); sharpening takes log(w + EPS), never log 0, so w^gamma has no 0 * inf gradient. 1e-8 is far
# below any weight that matters and far above float32's smallest normal, so float32 and float64
# take the same path. The twins and the reference import it from here.
NTM_EPS = 1e-8
# The "fixed" NTM memory initialisation: every entry this small constant (no weight).
NTM_FIXED_MEMORY = 1e-6


def position_encoding(sentence_len: int, embedding_dim: int, encoding: str) -> np.ndarray:
    """(S, d) l_{kj}: ones for "bow"; for "position" l_{kj} = (1 - j/J) - (k/d)(1 - 2j/J), 1-based j, k.

    J is the padded sentence length S; padded words are masked out before the sum, so they take no
    column of l (the paper's J is the true length; with J = S, as in most implementations, the
    weights of a short sentence are those of the first words of a long one).
    """
    if encoding == "bow":
        return np.ones((sentence_len, embedding_dim))
    J, d = sentence_len, embedding_dim
    j = np.arange(1, J + 1)[:, None]
    k = np.arange(1, d + 1)[None, :]
    return (1 - j / J) - (k / d) * (1 - 2 * j / J)


@dataclass(frozen=True)
class SeedMemoryNetworkConfig(checks.CheckedConfig):
    vocab_size: int = 12  # V, the seed's `memory_size` (it sizes an nn.Embedding: it is a vocabulary)
    embedding_size: int = 6  # E
    hidden_size: int = 8  # H, LSTM units
    output_size: int = 5  # O, classes of the decoder


@dataclass(frozen=True)
class MemN2NConfig(checks.CheckedConfig):
    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {
        "encoding": ("bow", "position"),
        "tying": ("adjacent", "layerwise"),
    }
    vocab_size: int = 20  # V, id 0 = padding
    embedding_dim: int = 8  # d
    memory_size: int = 6  # M, sentences a story keeps (slot 0 = the most recent)
    sentence_len: int = 5  # S (J of the paper's position encoding: the padded length)
    hops: int = 3  # K
    encoding: str = "position"  # "bow" (l_j = 1) | "position" (PE, paper section 4.1)
    temporal: bool = True  # add T_A(i), T_C(i) to memory slot i (paper section 4.1)
    tying: str = "adjacent"  # "adjacent" (A^{k+1} = C^k, B = A^1, W^T = C^K) | "layerwise" (RNN-like, with H)
    linear_start: bool = False  # initial value of the twins' `linear_start` attribute (no softmax in hops)


@dataclass(frozen=True)
class KVMemoryNetworkConfig(checks.CheckedConfig):
    vocab_size: int = 20  # V, id 0 = padding; the candidates are the V single-token answers
    embedding_dim: int = 8  # d
    memory_size: int = 6  # M, key-value pairs
    key_len: int = 4  # S_k, tokens per key
    value_len: int = 2  # S_v, tokens per value
    query_len: int = 5  # S_q
    hops: int = 2  # H


@dataclass(frozen=True)
class NTMConfig(checks.CheckedConfig):
    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {
        "controller": ("lstm", "feedforward"),
        "memory_init": ("learned", "fixed"),
    }
    input_dim: int = 4  # I, features of x_t (bits and delimiter channels)
    output_dim: int = 3  # O, features of y_t (logits)
    controller: str = "lstm"  # "lstm" | "feedforward"
    controller_size: int = 10  # H
    memory_slots: int = 8  # N
    memory_width: int = 6  # M
    memory_init: str = "learned"  # "learned" (weight M_0) | "fixed" (every entry 1e-6)


def ntm_head_sizes(c: NTMConfig) -> tuple[int, int]:
    """Widths of the read head's [k, beta, g, s(3), gamma] and the write head's [..., e, a]."""
    return c.memory_width + 6, 3 * c.memory_width + 6


# Input checks, shared by both twins so that both say the same words for the same mistake.
# `known_values` is the twin's own (tf_impl.core / torch_impl.core): NumPy values, None in a traced graph.
def check_token_ids(
    name: str, shape: checks.Shape, dtype: object, rank_legend: str, dims: dict[int, tuple[int, str]]
) -> None:
    checks.check_rank(name, shape, (len(rank_legend.split(",")),), rank_legend)
    if checks.dtype_name(dtype) not in ("int32", "int64"):
        raise TypeError(
            f"Expected `{name}` of dtype int32 or int64 (token ids). Received: dtype {checks.dtype_name(dtype)}"
        )
    for axis, (size, what) in dims.items():
        checks.check_dim(name, shape, axis, size, what)


def check_seed_inputs(
    config: SeedMemoryNetworkConfig, query: Any, memory_indices: Any, known_values: checks.KnownValues
) -> None:
    check_token_ids("query", query.shape, query.dtype, "(B, Tq)", {})
    check_token_ids("memory_indices", memory_indices.shape, memory_indices.dtype, "(B, Tm)", {})
    checks.check_same("memory_indices", memory_indices.shape, 0, "query", query.shape, 0)
    checks.check_ids("query", known_values(query), config.vocab_size)
    checks.check_ids("memory_indices", known_values(memory_indices), config.vocab_size)


def check_memn2n_inputs(config: MemN2NConfig, stories: Any, query: Any, known_values: checks.KnownValues) -> None:
    c = config
    check_token_ids(
        "stories", stories.shape, stories.dtype, "(B, M, S)", {1: (c.memory_size, "M"), 2: (c.sentence_len, "S")}
    )
    check_token_ids("query", query.shape, query.dtype, "(B, S)", {1: (c.sentence_len, "S")})
    checks.check_same("stories", stories.shape, 0, "query", query.shape, 0)
    checks.check_ids("stories", known_values(stories), c.vocab_size)
    checks.check_ids("query", known_values(query), c.vocab_size)


def check_kv_inputs(
    config: KVMemoryNetworkConfig, query: Any, keys: Any, values: Any, known_values: checks.KnownValues
) -> None:
    c = config
    check_token_ids("query", query.shape, query.dtype, "(B, S_q)", {1: (c.query_len, "S_q")})
    check_token_ids("keys", keys.shape, keys.dtype, "(B, M, S_k)", {1: (c.memory_size, "M"), 2: (c.key_len, "S_k")})
    check_token_ids(
        "values", values.shape, values.dtype, "(B, M, S_v)", {1: (c.memory_size, "M"), 2: (c.value_len, "S_v")}
    )
    checks.check_same("keys", keys.shape, 0, "query", query.shape, 0)
    checks.check_same("values", values.shape, 0, "query", query.shape, 0)
    for name, ids in (("query", query), ("keys", keys), ("values", values)):
        checks.check_ids(name, known_values(ids), c.vocab_size)


def check_ntm_inputs(config: NTMConfig, x: Any, dtype: str) -> None:
    checks.check_rank("x", x.shape, (3,), "(B, T, I)")
    checks.check_dim("x", x.shape, -1, config.input_dim, "I")
    checks.check_steps("x", x.shape, 1, "step")
    checks.check_dtype("x", x.dtype, dtype)


def check_ntm_config(config: NTMConfig) -> None:
    if config.controller not in ("lstm", "feedforward"):
        raise ValueError(f"Expected `controller` to be 'lstm' or 'feedforward'. Received: {config.controller!r}")
    if config.memory_init not in ("learned", "fixed"):
        raise ValueError(f"Expected `memory_init` to be 'learned' or 'fixed'. Received: {config.memory_init!r}")


def check_memn2n_config(config: MemN2NConfig) -> None:
    if config.encoding not in ("bow", "position"):
        raise ValueError(f"Expected `encoding` to be 'bow' or 'position'. Received: {config.encoding!r}")
    if config.tying not in ("adjacent", "layerwise"):
        raise ValueError(f"Expected `tying` to be 'adjacent' or 'layerwise'. Received: {config.tying!r}")
