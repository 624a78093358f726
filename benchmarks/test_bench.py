"""Time every case of ``benchmarks.cases`` with pytest-benchmark, then each twin against its built-in.

Each case: build the step, time its first call on its own (tracing / compilation, reported as
``compile_s`` and never part of the steady-state figures), warm up, then time steady-state rounds.
Every step waits for its device before returning, so the clock reads finished work. A case this
machine cannot run (no such framework or device, out of memory) is skipped with the reason.
The last test times every twin / built-in pair again, interleaved (``benchmarks.ab``), on the steps
the cases compiled: timed one after the other, a pair's ratio moved by 0.5 between two runs here.
"""

import time
from collections.abc import Callable

import pytest

from benchmarks import ab
from benchmarks.cases import (
    GEMM_FEWEST_ROUNDS,
    GEMM_MIN_ROUNDS,
    GEMM_SECONDS,
    GENERATION_PASSES,
    all_cases,
)
from benchmarks.conftest import OUT, THREADS
from twinmem import registry
from twinmem.frameworks import unavailable

CASES = all_cases()
# Steady-state time per case: enough rounds for a stable median on a 2-core box (at least 3), and the
# quick profile's ~240 cases inside make bench's 5 minutes with the install (compilation is ~2 of them).
TARGET_SECONDS = 0.15
SLOW_CALL_S = 0.05
# The twin / built-in pairs, and the steps their cases built, kept for the interleaved rounds at the end.
PAIRS = ab.comparisons(CASES)
PAIRED = {c.id for cases in PAIRS.values() for c in cases}
_kept_steps: dict[str, Callable[[], None]] = {}


def _skip_reason(case) -> str | None:
    reason = unavailable(case.framework)
    if reason:
        return reason
    if case.device == "gpu":
        import torch

        if not torch.cuda.is_available():
            return "no GPU on this machine"
        if case.framework == "tf":
            import tensorflow as tf

            if not tf.config.list_physical_devices("GPU"):
                return "this TensorFlow sees no GPU (a CPU-only build, or CUDA libraries it cannot load)"
    return None


def _is_oom(e: Exception) -> bool:
    text = str(e).lower()
    return "out of memory" in text or "resource exhausted" in text or "oom" in type(e).__name__.lower()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bench(benchmark, case):
    reason = _skip_reason(case)
    if reason:
        pytest.skip(reason)
    steps = __import__(f"benchmarks.{case.framework}_steps", fromlist=["build"])
    if case.model == "gemm":
        n = case.config["n"]
        step = steps.gemm_step(n, case.device, case.mode, case.config["dtype"])
        flops, batch, tokens, family = 2 * n**3, 1, n, "gemm"
        seq_len = n
    else:
        entry = registry.get(case.model)
        config = entry.make_config(**case.config)
        inputs = entry.make_inputs(config, seed=1, **case.inputs)
        weights = entry.random_weights(config, seed=0)
        batch = next(iter(inputs.values())).shape[0]
        seq_len = max(v.shape[1] for v in inputs.values() if v.ndim >= 2)
        tokens, family = batch * seq_len, entry.family
        # Analytic matmul FLOPs; a training step counts 3x the forward (forward + two backward GEMMs).
        flops = entry.flops(config, inputs) * (3 if case.pass_ == "train" else 1)
        if case.pass_ in GENERATION_PASSES:
            step = steps.generation_step(case, entry, config, weights, inputs)
            family = "generation"
            if case.pass_ != "prefill":  # one new token per sequence per step
                tokens = batch
            if case.pass_ == "decode_cached":  # projections and MLP of one token (attention over the cache not counted)
                flops = entry.flops(config, {**inputs, "tokens": inputs["tokens"][:, -1:]})
        else:
            step = steps.build(case, entry, config, weights, inputs)
    try:
        steps.reset_peak_memory(case.device)
        t0 = time.perf_counter()
        step()  # first call: tracing, compilation, allocator warm-up
        compile_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        step()  # one warm call sizes the number of rounds
        per_call = time.perf_counter() - t0
        rounds = max(3, min(200, int(TARGET_SECONDS / max(per_call, 1e-6))))
        if case.model == "gemm":  # the ceiling every efficiency divides by: a stable figure first
            rounds = max(rounds, min(GEMM_MIN_ROUNDS, max(GEMM_FEWEST_ROUNDS, int(GEMM_SECONDS / per_call))))
        # The sizing call above was the first warm call; one more before the timed rounds of a fast step
        # (a slow one's first warm call is warm enough, and another would cost more than its rounds).
        warmup = 1 if per_call < SLOW_CALL_S else 0
        benchmark.pedantic(step, rounds=rounds, warmup_rounds=warmup, iterations=1)
        if case.id in PAIRED:
            _kept_steps[case.id] = step
    except Exception as e:  # recorded as skipped with the reason, and the run goes on
        if _is_oom(e):
            pytest.skip(f"out of memory: {str(e).splitlines()[0][:200]}")
        raise
    benchmark.extra_info.update(
        model=case.model,
        shape=case.shape,
        family=family,
        framework=case.framework,
        impl=case.impl,
        mode=case.mode,
        pass_=case.pass_,
        device=case.device,
        dtype=case.config["dtype"] if case.model == "gemm" else case.dtype,
        threads=THREADS,
        batch=batch,
        seq_len=seq_len,
        tokens=tokens,
        flops=flops,
        compile_s=compile_s,
        peak_memory_bytes=steps.peak_memory(case.device),
    )
    if family == "generation":  # keys and values of every layer, float32, at this context (analytic)
        c = case.config
        benchmark.extra_info["kv_cache_bytes"] = (
            2 * c["num_layers"] * batch * c["num_heads"] * seq_len * c["head_dim"] * 4
        )


def test_twin_vs_builtin(capsys):
    """Last (pytest keeps a file's order): each pair whose twin and built-in both ran above, timed interleaved
    (a candidate skipped above, out of memory, say, is left out of its pair)."""
    pairs = {key: [c for c in cases if c.id in _kept_steps] for key, cases in PAIRS.items()}
    pairs = {key: cases for key, cases in pairs.items() if ab.is_pair(cases)}
    if not pairs:
        pytest.skip("no twin / built-in pair was timed in this run")
    rows = []
    for i, (key, cases) in enumerate(pairs.items(), 1):
        rows.append(ab.compare(key, cases, {c.id: _kept_steps[c.id] for c in cases}, "make bench"))
        with capsys.disabled():  # progress: pytest shows a test's output only at its end
            print(f"\n  twin / built-in {i}/{len(pairs)}: {' '.join(key)}  {rows[-1]['ratio']:.2f}", end="", flush=True)
    ab.write(rows, OUT)
