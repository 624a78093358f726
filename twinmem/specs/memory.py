"""Registry entries of the memory-network family: canonical weight shapes, example inputs, FLOPs, variants.

The configs, constants and input checks are ``twinmem.configs.memory``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from twinmem.configs.memory import (
    KVMemoryNetworkConfig,
    MemN2NConfig,
    NTMConfig,
    SeedMemoryNetworkConfig,
    ntm_head_sizes,
)
from twinmem.entry import ModelEntry
from twinmem.reference import memory as ref
from twinmem.weights import Shapes

ENTRIES: list[ModelEntry] = []  # gathered, in this order, by twinmem.registry


# ---------------------------------------------------------------------------------------------
# Canonical weight shapes. Sub-twins (the LSTM cells) come last: torch lists a module's own
# parameters before its submodules', and the canonical order is the export order of both twins.


def _lstm_shapes(prefix: str, input_dim: int, units: int) -> Shapes:
    # rnn.LSTMCell's weights: gate order i, f, g, o along the 4H axis, kernels (in, out); one bias.
    return {f"{prefix}.W_ih": (input_dim, 4 * units), f"{prefix}.W_hh": (units, 4 * units), f"{prefix}.b": (4 * units,)}


def _seed_shapes(c: SeedMemoryNetworkConfig) -> Shapes:
    return {
        "embedding": (c.vocab_size, c.embedding_size),
        "W_d": (c.hidden_size, c.output_size),
        "b_d": (c.output_size,),
        **_lstm_shapes("encoder", c.embedding_size, c.hidden_size),
    }


def _memn2n_shapes(c: MemN2NConfig) -> Shapes:
    V, d, M, K = c.vocab_size, c.embedding_dim, c.memory_size, c.hops
    if c.tying == "adjacent":
        # E[0] = B = A^1, E[k] = C^k = A^{k+1}, E[K] = C^K = W^T; T_E likewise for T_A, T_C.
        return {"E": (K + 1, V, d), **({"T_E": (K + 1, M, d)} if c.temporal else {})}
    return {
        "A": (V, d),
        "B": (V, d),
        "C": (V, d),
        **({"T_A": (M, d), "T_C": (M, d)} if c.temporal else {}),
        "H": (d, d),
        "W": (d, V),
    }


def _kv_shapes(c: KVMemoryNetworkConfig) -> Shapes:
    return {
        "A": (c.vocab_size, c.embedding_dim),
        "R": (c.hops, c.embedding_dim, c.embedding_dim),
        "B": (c.vocab_size, c.embedding_dim),
    }


def _ntm_shapes(c: NTMConfig) -> Shapes:
    read, write = ntm_head_sizes(c)
    H, M = c.controller_size, c.memory_width
    controller = (
        _lstm_shapes("controller", c.input_dim + M, H)
        if c.controller == "lstm"
        else {"controller.W": (c.input_dim + M, H), "controller.b": (H,)}
    )
    return {
        **({"M_0": (c.memory_slots, M)} if c.memory_init == "learned" else {}),
        "W_read": (H, read),
        "b_read": (read,),
        "W_write": (H, write),
        "b_write": (write,),
        "W_out": (H + M, c.output_dim),
        "b_out": (c.output_dim,),
        **controller,
    }


# ---------------------------------------------------------------------------------------------
# Example inputs: random token ids with right padding (id 0), so masks are exercised.


def _padded_tokens(rng: np.random.Generator, shape: tuple[int, ...], vocab: int) -> np.ndarray:
    """Ids in [1, V) with a random valid prefix of at least one word per row of the last axis."""
    ids = rng.integers(1, vocab, size=shape)
    lengths = rng.integers(1, shape[-1] + 1, size=shape[:-1])
    return np.where(np.arange(shape[-1]) < lengths[..., None], ids, 0).astype(np.int64)


def _pad_slots(rng: np.random.Generator, tokens: np.ndarray) -> np.ndarray:
    # Row 0 keeps every slot, the last row none (a defined, all-zero attention), the rows between a
    # random prefix of slots.
    B, M = tokens.shape[:2]
    keep = np.zeros((B, M), dtype=bool)
    keep[0] = True
    for b in range(1, B - 1):
        keep[b, : rng.integers(1, M + 1)] = True
    return np.where(keep[..., None], tokens, 0)


def _seed_inputs(
    config: SeedMemoryNetworkConfig, seed: int, batch: int = 3, query_len: int = 4, memory_len: int = 6
) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "query": _padded_tokens(rng, (batch, query_len), config.vocab_size),
        "memory_indices": _padded_tokens(rng, (batch, memory_len), config.vocab_size),
    }


def _memn2n_inputs(config: MemN2NConfig, seed: int, batch: int = 4) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    c = config
    stories = _pad_slots(rng, _padded_tokens(rng, (batch, c.memory_size, c.sentence_len), c.vocab_size))
    return {"stories": stories, "query": _padded_tokens(rng, (batch, c.sentence_len), c.vocab_size)}


def _kv_inputs(config: KVMemoryNetworkConfig, seed: int, batch: int = 4) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    c = config
    keys = _padded_tokens(rng, (batch, c.memory_size, c.key_len), c.vocab_size)
    slots = _pad_slots(rng, np.ones((batch, c.memory_size, 1), dtype=np.int64))
    values = _padded_tokens(rng, (batch, c.memory_size, c.value_len), c.vocab_size)
    return {
        "query": _padded_tokens(rng, (batch, c.query_len), c.vocab_size),
        "keys": np.where(slots > 0, keys, 0),
        "values": np.where(slots > 0, values, 0),
    }


def _ntm_inputs(config: NTMConfig, seed: int, batch: int = 3, steps: int = 5) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"x": rng.standard_normal((batch, steps, config.input_dim))}


# ---------------------------------------------------------------------------------------------
# FLOPs: matmul-like multiply-adds, 2 FLOPs each, forward pass. Lookups count nothing.


def _lstm_flops(batch: int, steps: int, input_dim: int, units: int) -> int:
    return 2 * batch * steps * (input_dim + units) * 4 * units


def _seed_flops(c: SeedMemoryNetworkConfig, x: Mapping[str, np.ndarray]) -> int:
    B, Tq = x["query"].shape
    Tm = x["memory_indices"].shape[1]
    return _lstm_flops(B, Tq + Tm, c.embedding_size, c.hidden_size) + 2 * B * c.hidden_size * c.output_size


def _memn2n_flops(c: MemN2NConfig, x: Mapping[str, np.ndarray]) -> int:
    B, M, S = x["stories"].shape
    d, K = c.embedding_dim, c.hops
    encode = 2 * B * (2 * K * M * S + S) * d  # l_j * embedding, summed over words (m_i and c_i per hop)
    hop = 2 * B * M * d * 2 + (2 * B * d * d if c.tying == "layerwise" else 0)  # u.m_i, sum p_i c_i, H u
    return encode + K * hop + 2 * B * d * c.vocab_size


def _kv_flops(c: KVMemoryNetworkConfig, x: Mapping[str, np.ndarray]) -> int:
    B, M, _ = x["keys"].shape
    d = c.embedding_dim
    return c.hops * (2 * B * M * d * 2 + 2 * B * d * d) + 2 * B * d * c.vocab_size


def _ntm_flops(c: NTMConfig, x: Mapping[str, np.ndarray]) -> int:
    B, T, _ = x["x"].shape
    H, N, M = c.controller_size, c.memory_slots, c.memory_width
    controller = _lstm_flops(B, T, c.input_dim + M, H) if c.controller == "lstm" else 2 * B * T * (c.input_dim + M) * H
    read, write = ntm_head_sizes(c)
    heads = 2 * B * T * H * (read + write)
    memory = 2 * B * T * N * M * (2 + 1 + 2)  # two cosine similarities, one read, erase and add
    return controller + heads + memory + 2 * B * T * (H + M) * c.output_dim


ENTRIES.append(
    ModelEntry(
        name="seed_memory_network",
        family="memory",
        class_name="SeedMemoryNetwork",
        config=SeedMemoryNetworkConfig,
        weight_shapes=_seed_shapes,
        example_inputs=_seed_inputs,
        reference=ref.seed_memory_network,
        outputs=("output",),
        flops=_seed_flops,
        bench_shapes={
            "quick": [
                (
                    "B16 Tq8 Tm16 E32 H32",
                    dict(vocab_size=100, embedding_size=32, hidden_size=32),
                    dict(batch=16, query_len=8, memory_len=16),
                )
            ],
            "full": [
                (
                    f"B32 Tm{t} E64 H64",
                    dict(vocab_size=100, embedding_size=64, hidden_size=64),
                    dict(batch=32, query_len=8, memory_len=t),
                )
                for t in (8, 16, 32)  # unrolled, as the NTM: XLA compile time grows with T
            ],
        },
        summary="the seed article's MemoryNetwork, batched: LSTM(query) + LSTM(memory) -> Linear (no addressing)",
    )
)

ENTRIES.append(
    ModelEntry(
        name="memn2n",
        family="memory",
        class_name="MemN2N",
        config=MemN2NConfig,
        weight_shapes=_memn2n_shapes,
        example_inputs=_memn2n_inputs,
        reference=ref.memn2n,
        outputs=("logits", "p"),
        flops=_memn2n_flops,
        variants={
            "default": {},
            "bow": {"encoding": "bow"},
            "layerwise": {"tying": "layerwise"},
            "linear_start": {"linear_start": True},
            "no_temporal": {"temporal": False, "tying": "layerwise", "encoding": "bow"},
        },
        bench_shapes={
            "quick": [
                (
                    "B32 M20 S6 d32 K3",
                    dict(vocab_size=100, embedding_dim=32, memory_size=20, sentence_len=6),
                    dict(batch=32),
                )
            ],
            "full": [
                (
                    f"B32 M{m} S8 d64 K{k}",
                    dict(vocab_size=200, embedding_dim=64, memory_size=m, sentence_len=8, hops=k),
                    dict(batch=32),
                )
                for m in (20, 50, 100, 200)
                for k in (1, 3, 6)
            ],
        },
        summary="End-to-End Memory Networks (Sukhbaatar et al. 2015): K soft-attention hops over sentence memories",
    )
)

ENTRIES.append(
    ModelEntry(
        name="kv_memory_network",
        family="memory",
        class_name="KVMemoryNetwork",
        config=KVMemoryNetworkConfig,
        weight_shapes=_kv_shapes,
        example_inputs=_kv_inputs,
        reference=ref.kv_memory_network,
        outputs=("logits", "p"),
        flops=_kv_flops,
        bench_shapes={
            "quick": [("B32 M50 d32 H2", dict(vocab_size=200, embedding_dim=32, memory_size=50), dict(batch=32))],
            "full": [
                (f"B32 M{m} d64 H{h}", dict(vocab_size=500, embedding_dim=64, memory_size=m, hops=h), dict(batch=32))
                for m in (50, 100, 400)
                for h in (1, 2, 4)
            ],
        },
        summary="Key-Value Memory Networks (Miller et al. 2016): address by keys, read values, R_j query updates",
    )
)

ENTRIES.append(
    ModelEntry(
        name="ntm",
        family="memory",
        class_name="NTM",
        config=NTMConfig,
        weight_shapes=_ntm_shapes,
        example_inputs=_ntm_inputs,
        reference=ref.ntm,
        outputs=("y", "read_weights", "write_weights"),
        flops=_ntm_flops,
        variants={
            "default": {},
            "feedforward": {"controller": "feedforward"},
            "fixed_memory": {"memory_init": "fixed"},
        },
        bench_shapes={
            "quick": [
                (
                    "B16 T8 N32 M10 H32",
                    dict(input_dim=10, output_dim=8, controller_size=32, memory_slots=32, memory_width=10),
                    dict(batch=16, steps=8),
                )
            ],
            "full": [
                (
                    f"B16 T{t} N128 M20 H100",
                    dict(input_dim=10, output_dim=8, controller_size=100, memory_slots=128, memory_width=20),
                    dict(batch=16, steps=t),
                )
                for t in (5, 10, 20)  # unrolled loop: XLA compiles a T=40 train step in ~190 s on 2 cores
            ],
        },
        summary="Neural Turing Machine (Graves et al. 2014): controller, content + location addressing, erase/add",
    )
)
