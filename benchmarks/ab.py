"""`make bench-ab`: each twin against its framework's built-in, timed interleaved in one process.

The sequential cases of `make bench` are timed minutes apart, and on a shared machine the same
twin / built-in ratio moved by up to 0.5 between two clean runs. Here every candidate of a comparison
(the twin on each path and fast mode, the built-in in each fast mode) runs once per round, in turn, so
a machine that slows down slows all of them alike; the ratio is the twin's fastest median over the
built-in's fastest, from the same rounds. TF eager is left out (never the fastest mode). Writes
bench-results/ab.json, which `twinmem report` turns into the "interleaved" table.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from rich.progress import Progress

from benchmarks.cases import BUILTINS, all_cases, profile
from benchmarks.conftest import THREADS  # noqa: F401  (pins the threads before either framework starts)
from twinmem import registry
from twinmem.frameworks import unavailable
from twinmem.report import path_free

ROUNDS = int(os.environ.get("TWINMEM_AB_ROUNDS", "15"))
# TWINMEM_AB_SHAPES=largest keeps each model's largest bench shape only (its profile's last): with
# TWINMEM_PROFILE=full, the "full profile's largest shape" (H1024 B64 T200 for the recurrent twins).
SHAPES = os.environ.get("TWINMEM_AB_SHAPES", "all")
if SHAPES not in ("all", "largest"):
    raise ValueError(f"TWINMEM_AB_SHAPES must be all or largest. Received: {SHAPES!r}")


def _largest(model: str) -> str | None:
    shapes = registry.get(model).bench_shapes.get(profile(), [])
    return path_free(shapes[-1][0]) if shapes else None


def comparisons() -> dict[tuple, list]:
    """(framework, model, shape without path, pass) -> its cases: twins and built-ins, float32, CPU."""
    groups: dict[tuple, list] = defaultdict(list)
    for case in all_cases():
        if (
            case.model in BUILTINS
            and case.dtype == "float32"
            and case.device == "cpu"
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
            groups[(case.framework, case.model, shape, case.pass_)].append(case)
    return {k: v for k, v in groups.items() if {c.impl == "twin" for c in v} == {True, False}}


def _step(case):
    steps = __import__(f"benchmarks.{case.framework}_steps", fromlist=["build"])
    entry = registry.get(case.model)
    config = entry.make_config(**case.config)
    inputs = entry.make_inputs(config, seed=1, **case.inputs)
    return steps.build(case, entry, config, entry.random_weights(config, seed=0), inputs)


def measure(cases: list, rounds: int) -> dict[str, list[float]]:
    """Seconds per call of each case, its calls interleaved round by round."""
    steps = {c.id: _step(c) for c in cases}
    for step in steps.values():  # compile, then one warm call each
        step()
        step()
    times: dict[str, list[float]] = {k: [] for k in steps}
    for _ in range(rounds):
        for k, step in steps.items():
            t0 = time.perf_counter()
            step()
            times[k].append(time.perf_counter() - t0)
    return times


def main() -> int:
    out = Path(os.environ.get("TWINMEM_BENCH_DIR", "bench-results"))
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    groups = comparisons()
    with Progress() as progress:
        task = progress.add_task("twin vs built-in, interleaved", total=len(groups))
        for (framework, model, shape, pass_), cases in groups.items():
            times = measure(cases, ROUNDS)
            medians = {c.id: float(np.median(times[c.id])) for c in cases}
            twin = min((c for c in cases if c.impl == "twin"), key=lambda c: medians[c.id])
            builtin = min((c for c in cases if c.impl != "twin"), key=lambda c: medians[c.id])
            # The spread of the per-round ratio of the two fastest: how far one number can be trusted.
            per_round = np.asarray(times[twin.id]) / np.asarray(times[builtin.id])
            q1, q3 = np.percentile(per_round, [25, 75])
            rows.append(
                {
                    "framework": framework, "model": model, "shape": shape, "pass": pass_,
                    "twin": f"{twin.shape.split()[0] if twin.shape != shape else ''} {twin.mode}".strip(),
                    "builtin": f"{builtin.impl} {builtin.mode}", "twin_s": medians[twin.id],
                    "builtin_s": medians[builtin.id], "ratio": medians[twin.id] / medians[builtin.id],
                    "ratio_iqr": float(q3 - q1), "rounds": ROUNDS,
                }
            )  # fmt: skip
            progress.advance(task)
    (out / "ab.json").write_text(json.dumps(rows, indent=1))
    for r in rows:
        print(
            f"{r['framework']:5s} {r['model']:30s} {r['shape']:28s} {r['pass']:7s} {r['ratio']:.2f} ± {r['ratio_iqr']:.2f}"
        )
    print(f"wrote {out}/ab.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
