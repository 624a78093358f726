"""The study's tasks in each mechanism's encoding, its model configs (the parameter budget) and budgets.

Recall (``twinmem.tasks.recall``) with ``recall_keys(config)`` keys and ``num_values`` values at every
load, so that a mechanism has one config, and one parameter count, across the sweep:

- tiny_gpt, lstm_language_model: the tokens (``k v ... k v ? k``), scored at the last position;
- ntm: the tokens as one-hot vectors, logits out at every step (as ``twinmem train``'s recall);
- memn2n: one memory slot per pair, the sentence ``k v`` (ids + 1: id 0 is MemN2N's padding),
  slot 0 = the last pair, the query the sentence ``k``; unused slots empty;
- kv_memory_network: one key-value slot per pair, key ``k`` and value ``v`` (ids + 1, 0 = padding),
  slot 0 = the last pair, the query ``k``; unused slots all padding (zero weight).

Parameter budget: ~100k for the three that read the tokens in sequence (tiny_gpt 2 layers d 64,
the LSTM 128 units, the NTM's LSTM controller 128 with 16 slots of 20); the two memory networks'
parameters are embeddings (and KV-MemNN's hop matrices) only, ~11k each at d = 64: MemN2N 10,752
(3 hops), KV-MemNN 11,520 (2 hops, the paper's H = 2); a budget of 100k would be d ~ 600 for a
vocabulary of 26.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from twinmem import train
from twinmem.study.config import Point, StudyConfig, recall_keys, window_needed
from twinmem.tasks import babi
from twinmem.tasks.copy import copy_task
from twinmem.tasks.recall import recall_task, recall_vocab_size

COPY_BITS = 6
# The LSTM baseline of the copy task: the NTM's own LSTM controller, its memory reduced to one slot of
# one number (no memory to speak of), 74 units so that it has about the NTM's parameters.
LSTM_BASELINE = dict(controller_size=74, memory_slots=1, memory_width=1)

# MemN2N's published test error (%) on the bAbI tasks, Sukhbaatar et al. 2015 (arXiv:1503.08895),
# Table 1, 1k training examples, the "PE LS RN" column: ours trains on freshly generated stories.
PAPER_ERROR = {1: 0.0, 2: 8.3, 3: 40.3, 6: 7.6, 7: 17.3}
BABI_CHANCE = {1: 1 / 6, 2: 1 / 6, 3: 1 / 6, 6: 1 / 2, 7: 1 / 4}


@dataclass(frozen=True)
class Setup:
    """What one point trains: the registry model, its config overrides, the task and the budget."""

    model: str
    config: dict[str, Any]
    task: train.Task
    budget: train.Budget
    chance: float  # the accuracy of a guess (for copy: the bit errors of one)


def _recall_rows(
    config: StudyConfig, pairs: int, mechanism: str, batch: int, seed: int | np.random.SeedSequence = 0
) -> dict[str, np.ndarray]:
    keys, values = recall_keys(config), config.num_values
    x = recall_task(batch, num_pairs=pairs, num_keys=keys, num_values=values, seed=seed)
    if mechanism == "ntm":
        return {**x, "one_hot": np.eye(recall_vocab_size(keys, values), dtype=np.float32)[x["tokens"]]}
    if mechanism == "memn2n":
        stories = np.zeros((batch, max(config.pairs), 2), np.int64)
        pair_tokens = x["tokens"][:, : 2 * pairs].reshape(batch, pairs, 2) + 1
        stories[:, :pairs] = pair_tokens[:, ::-1]  # slot 0 = the last pair
        query = np.zeros((batch, 2), np.int64)
        query[:, 0] = x["tokens"][:, -1] + 1
        return {"stories": stories, "query": query, "answers": x["answer"] + 1, "query_index": x["query_index"]}
    if mechanism == "kv_memory_network":
        keys_in, values_in = (np.zeros((batch, max(config.pairs), 1), np.int64) for _ in range(2))
        pair_tokens = x["tokens"][:, : 2 * pairs].reshape(batch, pairs, 2)[:, ::-1] + 1  # slot 0 = the last pair
        keys_in[:, :pairs, 0], values_in[:, :pairs, 0] = pair_tokens[..., 0], pair_tokens[..., 1]
        return {
            "query": x["tokens"][:, -1:] + 1,
            "keys": keys_in,
            "values": values_in,
            "answers": x["answer"] + 1,
            "query_index": x["query_index"],
        }
    return x


def recall_token_names(config: StudyConfig) -> list[str]:
    """A name per recall token id: keys ``k0 ...``, values ``v0 ...``, the query marker ``?``."""
    keys, values = recall_keys(config), config.num_values
    return [f"k{i}" for i in range(keys)] + [f"v{i}" for i in range(values)] + ["?"]


def recall_setup(config: StudyConfig, point: Point) -> Setup:
    keys, values = recall_keys(config), config.num_values
    vocab = recall_vocab_size(keys, values)
    largest = max(config.pairs)
    models: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {
        "tiny_gpt": (
            dict(
                vocab_size=vocab,
                max_len=config.windows.get("tiny_gpt", window_needed(largest)),
                d_model=64,
                num_heads=4,
                head_dim=16,
                num_layers=2,
            ),
            ("tokens",),
        ),
        "lstm_language_model": (
            dict(vocab_size=vocab, embed_dim=64, hidden_size=128, num_layers=1, dropout=0.0),
            ("tokens",),
        ),
        "ntm": (
            dict(input_dim=vocab, output_dim=vocab, controller_size=128, memory_slots=16, memory_width=20),
            ("one_hot",),
        ),
        "memn2n": (
            dict(vocab_size=vocab + 1, embedding_dim=64, memory_size=largest, sentence_len=2, hops=3),
            ("stories", "query"),
        ),
        # Keys, values and query share the embedding A (as in the paper); 2 hops, each with its R_j.
        "kv_memory_network": (
            dict(
                vocab_size=vocab + 1,
                embedding_dim=64,
                memory_size=largest,
                key_len=1,
                value_len=1,
                query_len=1,
                hops=2,
            ),
            ("query", "keys", "values"),
        ),
    }
    overrides, inputs = models[point.mechanism]
    one_answer = point.mechanism in ("memn2n", "kv_memory_network")  # logits (B, V), not per position
    task = train.Task(
        batch=partial(_recall_rows, config, point.x, point.mechanism),
        inputs=inputs,
        loss="answers_cross_entropy" if one_answer else "answer_cross_entropy",
        measure="answers_accuracy" if one_answer else "answer_accuracy",
    )
    budget = train.Budget(
        steps=config.recall_steps,
        batch_size=config.recall_batch,
        learning_rate=1e-3,
        clip_norm=10.0 if point.mechanism == "ntm" else None,
    )
    return Setup(point.mechanism, overrides, task, budget, 1 / values)


def copy_setup(config: StudyConfig, point: Point) -> Setup:
    overrides = dict(input_dim=COPY_BITS + 2, output_dim=COPY_BITS, controller_size=64, memory_slots=config.copy_slots)
    overrides["memory_width"] = 12
    if point.mechanism == "lstm":
        overrides.update(LSTM_BASELINE)
    task = train.Task(
        batch=partial(copy_task, max_len=point.x, bits=COPY_BITS, min_len=1),
        inputs=("inputs",),
        loss="masked_bit_cross_entropy",
        measure="bit_errors",
    )
    steps = config.copy_steps
    budget = train.Budget(
        steps=steps,
        batch_size=16,
        learning_rate=3e-3,
        clip_norm=10.0,
        learning_rate_drops=((2 * steps // 3, 1e-3),),
    )
    # A guess gets half the bits wrong: bits * L / 2 per sequence of L vectors (here at the longest length).
    return Setup("ntm", overrides, task, budget, COPY_BITS * point.x / 2)


def copy_test_rows(length: int, rows: int) -> dict[str, np.ndarray]:
    """Held-out copy sequences of exactly ``length`` vectors (a stream no training batch draws from)."""
    seed = np.random.SeedSequence(train.EVAL_SEED, spawn_key=(length,))
    return copy_task(rows, max_len=length, bits=COPY_BITS, min_len=length, seed=seed)


def babi_setup(config: StudyConfig, point: Point) -> Setup:
    chance = BABI_CHANCE[point.x]
    if point.x in (1, 2):  # twinmem train's own tasks and budgets (docs/training.md)
        task = train.TASKS[f"babi{point.x}"]
        return Setup("memn2n", dict(task.configs["memn2n"]), task, task.budgets["memn2n"], chance)
    memory = 15  # task 3 needs the longer stories
    batch: Callable[..., dict[str, np.ndarray]] = partial(babi.generate_extended, point.x, memory_size=memory)
    task = train.Task(
        batch=batch, inputs=("stories", "query"), loss="answers_cross_entropy", measure="answers_accuracy"
    )
    overrides = dict(
        vocab_size=len(babi.VOCAB_EXTENDED),
        embedding_dim=32,
        memory_size=memory,
        sentence_len=babi.EXTENDED_SENTENCE_LEN,
        hops=3,
    )
    steps = config.babi_steps
    budget = train.Budget(steps=steps, batch_size=32, learning_rate=0.005, linear_start_steps=steps // 4)
    return Setup("memn2n", overrides, task, budget, chance)


def setup(config: StudyConfig, point: Point) -> Setup:
    if point.part == "capacity":
        return recall_setup(config, point)
    if point.part == "length":
        return copy_setup(config, point)
    return babi_setup(config, point)
