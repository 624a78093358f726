"""Each twin against its framework's built-in, timed interleaved: `make bench`'s last test, and `make bench-ab`.

Timed one after the other, on a shared machine the same twin / built-in ratio moved by up to 0.5 between
two clean runs. Here every candidate of a comparison (the twin on each path and fast mode, the built-in
in each fast mode) runs once per round, in turn, so a machine that slows down slows all of them alike;
the ratio is the twin's fastest median over the built-in's fastest, from the same rounds. TF eager is
left out (never the fastest mode). `make bench` reuses the steps its cases compiled; `make bench-ab`
builds its own, with TWINMEM_AB_ROUNDS and TWINMEM_AB_SHAPES=largest. Both write bench-results/ab.json,
which `twinmem report` turns into the twin / built-in table.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np
from rich.progress import Progress

from benchmarks.cases import BUILTINS, all_cases, profile
from benchmarks.conftest import THREADS  # noqa: F401  (pins the threads before either framework starts)
from twinmem import registry
from twinmem.frameworks import unavailable
from twinmem.report import path_free

ROUNDS = int(os.environ.get("TWINMEM_AB_ROUNDS", "15"))
# Without TWINMEM_AB_ROUNDS (as in `make bench`, which times every pair this way at its end): rounds by time.
ROUND_SECONDS, MIN_ROUNDS, MAX_ROUNDS = 0.4, 15, 60
# TWINMEM_AB_SHAPES=largest keeps each model's largest bench shape only (its profile's last): with
# TWINMEM_PROFILE=full, the "full profile's largest shape" (H1024 B64 T200 for the recurrent twins).
SHAPES = os.environ.get("TWINMEM_AB_SHAPES", "all")
if SHAPES not in ("all", "largest"):
    raise ValueError(f"TWINMEM_AB_SHAPES must be all or largest. Received: {SHAPES!r}")


def _largest(model: str) -> str | None:
    shapes = registry.get(model).bench_shapes.get(profile(), [])
    return path_free(shapes[-1][0]) if shapes else None


def comparisons(cases: list | None = None) -> dict[tuple, list]:
    """(framework, model, shape without path, pass, device) -> its cases: twins and built-ins, float32."""
    groups: dict[tuple, list] = defaultdict(list)
    for case in all_cases() if cases is None else cases:
        if (
            case.model in BUILTINS
            and case.dtype == "float32"
            and (case.framework, case.mode) != ("tf", "eager")
            and unavailable(case.framework) is None
        ):
            shape = path_free(case.shape)
            if SHAPES == "largest" and shape != _largest(case.model):
                continue
            # There, as in the quick profile, the recurrent twins on their fused path: the explicit one is a
            # Python loop over 200 steps (a TF graph of it takes minutes to trace on 2 cores).
            if SHAPES == "largest" and case.impl == "twin" and case.config.get("path") == "explicit":
                if registry.get(case.model).family == "rnn":
                    continue
            groups[(case.framework, case.model, shape, case.pass_, case.device)].append(case)
    return {k: v for k, v in groups.items() if is_pair(v)}


def is_pair(cases: list) -> bool:
    """A twin and a built-in among the cases: something to divide."""
    return {c.impl == "twin" for c in cases} == {True, False}


def _step(case):
    steps = __import__(f"benchmarks.{case.framework}_steps", fromlist=["build"])
    entry = registry.get(case.model)
    config = entry.make_config(**case.config)
    inputs = entry.make_inputs(config, seed=1, **case.inputs)
    return steps.build(case, entry, config, entry.random_weights(config, seed=0), inputs)


def rounds_for(steps: dict[str, Callable[[], object]]) -> int:
    """ROUNDS if TWINMEM_AB_ROUNDS is set, else as many as fit in ROUND_SECONDS (MIN_ROUNDS to MAX_ROUNDS):
    a pair of 2 ms calls gets 60 rounds for next to nothing, a 70 ms training step 15."""
    if "TWINMEM_AB_ROUNDS" in os.environ:
        return ROUNDS
    t0 = time.perf_counter()
    for step in steps.values():
        step()
    return max(MIN_ROUNDS, min(MAX_ROUNDS, int(ROUND_SECONDS / (time.perf_counter() - t0))))


def measure(steps: dict[str, Callable[[], object]], rounds: int) -> dict[str, list[float]]:
    """Seconds per call of each step (compiled and warm), the calls interleaved round by round.

    Each round starts one candidate later than the last: a step's place in the round matters at batch 1
    (two arms of the same code, in a fixed order, read 1.35x and 1.14x of the same built-in), so every
    candidate takes every place equally often."""
    times: dict[str, list[float]] = {k: [] for k in steps}
    keys = list(steps)
    for r in range(rounds):
        for k in keys[r % len(keys) :] + keys[: r % len(keys)]:
            t0 = time.perf_counter()
            steps[k]()
            times[k].append(time.perf_counter() - t0)
    return times


def compare(key: tuple, cases: list, steps: dict[str, Callable[[], object]], source: str) -> dict:
    """One row of the table: the twin's fastest path and mode over the built-in's fastest mode, from
    interleaved rounds of ``steps`` (every case's step, already called at least once)."""
    framework, model, shape, pass_, device = key
    rounds = rounds_for(steps)
    times = measure(steps, rounds)
    medians = {c.id: float(np.median(times[c.id])) for c in cases}
    twin = min((c for c in cases if c.impl == "twin"), key=lambda c: medians[c.id])
    builtin = min((c for c in cases if c.impl != "twin"), key=lambda c: medians[c.id])
    # The spread of the per-round ratio of the two fastest: how far one number can be trusted.
    per_round = np.asarray(times[twin.id]) / np.asarray(times[builtin.id])
    q1, q3 = np.percentile(per_round, [25, 75])
    return {
        "framework": framework, "model": model, "shape": shape, "pass": pass_, "device": device,
        "twin": f"{twin.shape.split()[0] if twin.shape != shape else ''} {twin.mode}".strip(),
        "builtin": f"{builtin.impl} {builtin.mode}", "twin_s": medians[twin.id],
        "builtin_s": medians[builtin.id], "ratio": medians[twin.id] / medians[builtin.id],
        "ratio_iqr": float(q3 - q1), "rounds": rounds, "source": source,
    }  # fmt: skip


def write(rows: list[dict], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "ab.json").write_text(json.dumps(rows, indent=1))
    for r in rows:
        print(
            f"{r['framework']:5s} {r['model']:30s} {r['shape']:28s} {r['pass']:7s} {r['device']:4s} "
            f"{r['ratio']:.2f} ± {r['ratio_iqr']:.2f}"
        )
    print(f"wrote {out}/ab.json")


def main() -> int:
    rows = []
    groups = comparisons()
    with Progress() as progress:
        task = progress.add_task("twin vs built-in, interleaved", total=len(groups))
        for key, cases in groups.items():
            steps = {c.id: _step(c) for c in cases}
            for step in steps.values():  # compile, then one warm call each
                step()
                step()
            rows.append(compare(key, cases, steps, "make bench-ab"))
            # A line per pair as it ends: the full profile's largest shapes take half an hour, and a log file
            # (no terminal) shows no progress bar.
            progress.console.print(f"{' '.join(key)}  {rows[-1]['ratio']:.2f} ± {rows[-1]['ratio_iqr']:.2f}")
            progress.advance(task)
    write(rows, Path(os.environ.get("TWINMEM_BENCH_DIR", "bench-results")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
