"""Associative recall as a language task: key -> value token pairs, then a query key; answer its value.

A seeded NumPy generator, no download. Token ids, for ``num_keys`` keys and ``num_values`` values:

    keys 0 .. K - 1, values K .. K + V - 1, the query marker K + V   (vocab_size = K + V + 1)

One row, with ``num_pairs`` = n pairs (T = 2n + 2 tokens):

    k_1 v_1 k_2 v_2 ... k_n v_n ? k_q      answer: v_q

The n keys of a row are distinct (so every query has one answer), the values are drawn with
replacement, and the query is one of the row's keys. A language model reads the row and must put
the answer's id on top at the last position (``answer_position``): to do so it has to find where
k_q occurred and read the token after it, which is what attention over the context (or a recurrent
state that stores every pair) is for.
"""

from __future__ import annotations

import numpy as np


def recall_vocab_size(num_keys: int, num_values: int) -> int:
    return num_keys + num_values + 1


def recall_task(
    batch: int, num_pairs: int = 4, num_keys: int = 8, num_values: int = 8, seed: int | np.random.SeedSequence = 0
) -> dict[str, np.ndarray]:
    """A batch of recall rows.

    Returns:
        tokens int64 (B, 2 num_pairs + 2), answer int64 (B,) (the queried value's id),
        answer_position int64 (B,) (the position whose next-token logits must give the answer: the
        last one), query_index int64 (B,) (which pair was queried).
    """
    if batch < 1 or num_pairs < 1 or num_values < 1:
        raise ValueError(f"Expected batch, num_pairs and num_values >= 1. Received: {batch}, {num_pairs}, {num_values}")
    if num_keys < num_pairs:
        raise ValueError(f"Expected num_keys >= num_pairs (keys are distinct). Received: {num_keys} < {num_pairs}")
    rng = np.random.default_rng(seed)
    keys = np.argsort(rng.random((batch, num_keys)), axis=1)[:, :num_pairs]  # (B, n), distinct per row
    values = num_keys + rng.integers(0, num_values, (batch, num_pairs))  # (B, n)
    query_index = rng.integers(0, num_pairs, batch)  # (B,)
    rows = np.arange(batch)
    tokens = np.concatenate(
        [
            np.stack([keys, values], axis=2).reshape(batch, 2 * num_pairs),
            np.full((batch, 1), num_keys + num_values),
            keys[rows, query_index][:, None],
        ],
        axis=1,
    ).astype(np.int64)
    return {
        "tokens": tokens,
        "answer": values[rows, query_index].astype(np.int64),
        "answer_position": np.full(batch, 2 * num_pairs + 1, np.int64),
        "query_index": query_index.astype(np.int64),
    }
