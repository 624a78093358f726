"""The NTM's bit-vector tasks (Graves et al. 2014, sections 4.1 and 4.3): copy and associative recall.

Seeded NumPy generators, no download. Inputs carry the bits plus two delimiter channels; targets
carry the bits only; ``mask`` marks the steps where the model must answer (its loss is sigmoid
cross-entropy of the NTM's pre-sigmoid ``y`` against ``targets`` over those steps). Layout, time
along axis 1, features along axis 2:

copy, per row of length L (padded with zero steps to the batch's longest, 2 * max_len + 2):
    step 0: start delimiter (channel ``bits``); steps 1..L: random bits; step L + 1: end delimiter
    (channel ``bits + 1``); steps L + 2 .. 2L + 1: zero input, target = the L vectors, mask True.

associative recall, with ``num_items`` items of ``item_len`` vectors:
    per item: one item delimiter step (channel ``bits``), then its ``item_len`` vectors; then a query
    delimiter (channel ``bits + 1``), one of the items but the last, the query delimiter again; then
    ``item_len`` zero steps whose target is the item that followed the queried one.
"""

from __future__ import annotations

import numpy as np


def copy_task(
    batch: int, max_len: int, bits: int = 8, seed: int | np.random.SeedSequence = 0, min_len: int | None = None
) -> dict[str, np.ndarray]:
    """A batch of copy sequences with lengths drawn from [min_len, max_len] (all ``max_len`` if None).

    Returns:
        inputs float32 (B, 2 max_len + 2, bits + 2), targets float32 (B, 2 max_len + 2, bits),
        mask bool (B, 2 max_len + 2) (True where the copy is due), lengths int64 (B,).
    """
    if max_len < 1 or bits < 1 or batch < 1:
        raise ValueError(f"Expected batch, max_len and bits >= 1. Received: {batch}, {max_len}, {bits}")
    min_len = max_len if min_len is None else min_len
    if not 1 <= min_len <= max_len:
        raise ValueError(f"Expected 1 <= min_len <= max_len. Received: min_len {min_len}, max_len {max_len}")
    rng = np.random.default_rng(seed)
    T = 2 * max_len + 2
    lengths = rng.integers(min_len, max_len + 1, size=batch)
    seq = rng.integers(0, 2, size=(batch, max_len, bits)).astype(np.float32)
    inputs = np.zeros((batch, T, bits + 2), np.float32)
    targets = np.zeros((batch, T, bits), np.float32)
    mask = np.zeros((batch, T), bool)
    for b, L in enumerate(lengths):
        inputs[b, 0, bits] = 1.0
        inputs[b, 1 : L + 1, :bits] = seq[b, :L]
        inputs[b, L + 1, bits + 1] = 1.0
        targets[b, L + 2 : 2 * L + 2] = seq[b, :L]
        mask[b, L + 2 : 2 * L + 2] = True
    return {"inputs": inputs, "targets": targets, "mask": mask, "lengths": lengths.astype(np.int64)}


def associative_recall(
    batch: int, num_items: int = 3, item_len: int = 3, bits: int = 6, seed: int | np.random.SeedSequence = 0
) -> dict[str, np.ndarray]:
    """A batch of associative-recall episodes: after the items and a query item, recall the next item.

    Returns:
        inputs float32 (B, T, bits + 2), targets float32 (B, T, bits), mask bool (B, T), query_index
        int64 (B,) (which item was queried), with T = num_items (item_len + 1) + 2 item_len + 2.
    """
    if num_items < 2:
        raise ValueError(f"Expected num_items >= 2 (an item and its successor). Received: {num_items}")
    if item_len < 1 or bits < 1 or batch < 1:
        raise ValueError(f"Expected batch, item_len and bits >= 1. Received: {batch}, {item_len}, {bits}")
    rng = np.random.default_rng(seed)
    T = num_items * (item_len + 1) + 2 * item_len + 2
    items = rng.integers(0, 2, size=(batch, num_items, item_len, bits)).astype(np.float32)
    query_index = rng.integers(0, num_items - 1, size=batch)
    inputs = np.zeros((batch, T, bits + 2), np.float32)
    targets = np.zeros((batch, T, bits), np.float32)
    mask = np.zeros((batch, T), bool)
    for b in range(batch):
        for n in range(num_items):
            start = n * (item_len + 1)
            inputs[b, start, bits] = 1.0
            inputs[b, start + 1 : start + 1 + item_len, :bits] = items[b, n]
        q = num_items * (item_len + 1)
        inputs[b, q, bits + 1] = 1.0
        inputs[b, q + 1 : q + 1 + item_len, :bits] = items[b, query_index[b]]
        inputs[b, q + 1 + item_len, bits + 1] = 1.0
        out = q + 2 + item_len
        targets[b, out : out + item_len] = items[b, query_index[b] + 1]
        mask[b, out : out + item_len] = True
    return {"inputs": inputs, "targets": targets, "mask": mask, "query_index": query_index.astype(np.int64)}
