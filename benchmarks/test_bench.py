"""Time every case of ``benchmarks.cases`` with pytest-benchmark.

Each case: build the step, time its first call on its own (tracing / compilation, reported as
``compile_s``), warm up, then time steady-state rounds. Every step waits for its device before
returning, so the clock reads finished work. A case a machine cannot run is skipped with the reason.
"""

import time

import pytest

from benchmarks.cases import all_cases
from benchmarks.conftest import THREADS
from twinmem import registry
from twinmem.frameworks import unavailable

CASES = all_cases()
TARGET_SECONDS = 0.4  # steady-state time per case: enough rounds for a stable median on a 2-core box


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bench(benchmark, case):
    reason = unavailable(case.framework)
    if reason:
        pytest.skip(reason)
    steps = __import__(f"benchmarks.{case.framework}_steps", fromlist=["build"])
    entry = registry.get(case.model)
    config = entry.make_config(**case.config)
    weights = entry.random_weights(config, seed=0)
    inputs = entry.make_inputs(config, seed=1, **case.inputs)
    try:
        step = steps.build(case, entry, config, weights, inputs)
        t0 = time.perf_counter()
        step()  # first call: tracing, compilation, allocator warm-up
        compile_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        step()  # one warm call sizes the number of rounds
        per_call = time.perf_counter() - t0
    except Exception as e:  # out of memory, an op the device lacks: recorded, and the run goes on
        if "out of memory" in str(e).lower() or "resource exhausted" in str(e).lower():
            pytest.skip(f"out of memory: {str(e).splitlines()[0][:200]}")
        raise
    rounds = max(3, min(200, int(TARGET_SECONDS / max(per_call, 1e-6))))
    B = next(iter(inputs.values())).shape[0]
    T = max(v.shape[1] for v in inputs.values() if v.ndim >= 2)
    benchmark.extra_info.update(
        model=case.model,
        shape=case.shape,
        framework=case.framework,
        impl=case.impl,
        mode=case.mode,
        pass_=case.pass_,
        device=case.device,
        threads=THREADS,
        batch=B,
        tokens=B * T,
        flops=entry.flops(config, inputs) * (3 if case.pass_ == "train" else 1),
        compile_s=compile_s,
        family=entry.family,
    )
    benchmark.pedantic(step, rounds=rounds, warmup_rounds=2, iterations=1)
