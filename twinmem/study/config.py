"""What a study measures: the profiles (``quick``, ``default``), its points, and the checks of a config.

A point is one (part, mechanism, x, seed): ``part`` one of ``PARTS``; ``x`` the number of stored pairs
(capacity, persistence), the bAbI task number (babi) or the longest training sequence (length).
Persistence has no points of its own: it reads the capacity points at ``persistence_load`` pairs,
grouping their held-out rows by the distance between the queried pair and the query.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from twinmem.tasks import babi

PARTS = ("capacity", "length", "babi")
# The mechanisms of the capacity sweep (recall), each a registry name.
RECALL_MECHANISMS = ("tiny_gpt", "lstm_language_model", "memn2n", "kv_memory_network", "ntm")
LENGTH_MECHANISMS = ("ntm", "lstm")  # "lstm": the NTM's LSTM controller with its memory reduced to one number


@dataclass(frozen=True)
class Point:
    part: str  # one of PARTS
    mechanism: str  # a registry name (or "lstm" in the length part)
    x: int  # pairs, bAbI task, or the longest training sequence
    seed: int  # initial weights and batches

    @property
    def key(self) -> str:
        return f"{self.part}-{self.mechanism}-{self.x}-s{self.seed}"


@dataclass(frozen=True)
class StudyConfig:
    profile: str  # "quick" | "default" | "custom"
    frameworks: tuple[str, ...]  # "tf", "torch": each point trains each of them
    mechanisms: tuple[str, ...]  # of RECALL_MECHANISMS: the capacity / persistence curves
    pairs: tuple[int, ...]  # capacity sweep: stored pairs per row
    num_values: int = 8  # values a key can take: chance is 1 / num_values
    persistence_load: int = 8  # the load (pairs) of the persistence curve; must be one of `pairs`
    seeds: tuple[int, ...] = (0, 1, 2)  # at the persistence load (where the spread matters)
    sweep_seeds: tuple[int, ...] = (0,)  # at every other capacity point
    # Mechanisms given one seed where the others get several: sweep_seeds also at the persistence load (a
    # capacity mechanism), the first of copy_seeds (a length mechanism, e.g. "lstm").
    few_seeds: tuple[str, ...] = ()
    recall_steps: int = 1000
    recall_batch: int = 64
    # Points a mechanism skips to fit the time (e.g. the NTM, slow on CPU, at the largest load): mechanism -> pairs.
    skip: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    # A mechanism's context window, if not the one the largest load needs (tiny_gpt's max_len).
    windows: Mapping[str, int] = field(default_factory=dict)
    length_mechanisms: tuple[str, ...] = LENGTH_MECHANISMS
    copy_train_len: int = 10  # copy: sequences of 1 .. copy_train_len vectors in training
    copy_test_lens: tuple[int, ...] = (10, 20, 40)
    copy_steps: int = 1000
    copy_slots: int = 64  # the NTM's memory N: at least the longest test sequence
    copy_test_rows: int = 200
    copy_seeds: tuple[int, ...] = (0,)  # of every copy point (the NTM's and the LSTM baseline's)
    babi_tasks: tuple[int, ...] = (1, 2, 3, 6, 7)
    babi_steps: int = 1000
    babi_seeds: tuple[int, ...] = (0,)  # of every bAbI task

    def points(self) -> list[Point]:
        out = []
        for m in self.mechanisms:
            for n in self.pairs:
                if n in self.skip.get(m, ()):
                    continue
                many = n == self.persistence_load and m not in self.few_seeds
                seeds = self.seeds if many else self.sweep_seeds
                out += [Point("capacity", m, n, s) for s in seeds]
        for m in self.length_mechanisms:
            seeds = self.copy_seeds[:1] if m in self.few_seeds else self.copy_seeds
            out += [Point("length", m, self.copy_train_len, s) for s in seeds]
        out += [Point("babi", "memn2n", t, s) for t in self.babi_tasks for s in self.babi_seeds]
        return out

    def study_id(self) -> str:
        """A hash of everything that shapes a point: two configs with one id make the same points."""
        text = json.dumps(asdict(self), sort_keys=True, default=list)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


QUICK = StudyConfig(
    profile="quick",
    frameworks=("tf", "torch"),
    mechanisms=RECALL_MECHANISMS,
    pairs=(2, 8, 16),
    skip={"ntm": (16,)},
    copy_seeds=(0, 1, 2),
    babi_seeds=(0, 1, 2),
    # The LSTM baseline of copy (at chance beyond its training lengths) once: ~2 min of the <= 30.
    few_seeds=("lstm",),
)
DEFAULT = StudyConfig(
    profile="default",
    frameworks=("tf", "torch"),
    mechanisms=RECALL_MECHANISMS,
    pairs=(2, 4, 8, 16, 32, 64),
    persistence_load=16,
    sweep_seeds=(0, 1, 2),
    recall_steps=3000,
    copy_train_len=20,
    copy_test_lens=(20, 40, 80),
    copy_steps=3000,
    copy_slots=128,
    copy_test_rows=500,
    copy_seeds=(0, 1, 2),
    babi_steps=3000,
    babi_seeds=(0, 1, 2),
)
PROFILES = {"quick": QUICK, "default": DEFAULT}


def recall_keys(config: StudyConfig) -> int:
    """Keys of the recall vocabulary: as many as the largest load, the same at every point."""
    return max(config.pairs)


def window_needed(pairs: int) -> int:
    """Tokens of a recall row of ``pairs`` pairs: k v ... k v ? k."""
    return 2 * pairs + 2


def check(config: StudyConfig) -> StudyConfig:
    """The config as it is, or a ValueError naming what is wrong."""
    bad = [f for f in config.frameworks if f not in ("tf", "torch")]
    if bad or not config.frameworks:
        raise ValueError(f"Unknown framework {bad[0] if bad else None!r}; expected tf and/or torch")
    unknown = [m for m in config.mechanisms if m not in RECALL_MECHANISMS]
    if unknown:
        raise ValueError(f"Unknown mechanism {unknown[0]!r}; expected one of {', '.join(RECALL_MECHANISMS)}")
    unknown = [m for m in config.length_mechanisms if m not in LENGTH_MECHANISMS]
    if unknown:
        raise ValueError(f"Unknown length mechanism {unknown[0]!r}; expected one of {', '.join(LENGTH_MECHANISMS)}")
    bad_tasks = [t for t in config.babi_tasks if t not in babi.TASKS]
    if bad_tasks:
        raise ValueError(f"Unknown bAbI task {bad_tasks[0]!r}; the generator makes tasks {babi.TASKS}")
    if not config.pairs or min(config.pairs) < 1:
        raise ValueError(f"Expected pairs >= 1. Received: {config.pairs}")
    if config.persistence_load not in config.pairs:
        raise ValueError(f"Expected persistence_load among pairs {config.pairs}. Received: {config.persistence_load}")
    for m, window in config.windows.items():
        too_long = [n for n in config.pairs if window_needed(n) > window and n not in config.skip.get(m, ())]
        if too_long:
            raise ValueError(
                f"Sweep point {too_long[0]} pairs needs a context of {window_needed(too_long[0])} tokens; "
                f"{m!r} has a window of {window}"
            )
    if max(config.copy_test_lens) > config.copy_slots:
        raise ValueError(
            f"Expected copy_slots >= the longest copy test ({max(config.copy_test_lens)}). Received: {config.copy_slots}"
        )
    return config


def make_config(profile: str, **overrides: Any) -> StudyConfig:
    if profile not in PROFILES:
        raise ValueError(f"Unknown profile {profile!r}; expected one of {', '.join(PROFILES)}")
    return check(replace(PROFILES[profile], **overrides))
