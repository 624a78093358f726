"""Every benchmark case, generated from the registry: model x shape x framework x impl x mode x pass.

Framework-free: a case is a description; ``tf_steps`` / ``torch_steps`` turn it into a timed step.
Environment knobs (the Makefile sets the first two): TWINMEM_PROFILE=quick|full,
TWINMEM_DEVICE=cpu|gpu|all, TWINMEM_MODES (comma list overriding the profile's modes),
TWINMEM_TF32=1 (TF32 matmuls on for both frameworks on GPU), TWINMEM_THREADS.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from twinmem import registry
from twinmem.frameworks import unavailable
from twinmem.report import path_free

# Execution modes per framework. torch.compile costs ~15-20 s of compilation per case on a 2-core
# CPU, which would blow the quick profile's 5-minute budget by itself: it runs in the full profile.
MODES = {
    "quick": {"tf": ("eager", "graph", "xla"), "torch": ("eager",)},
    "full": {"tf": ("eager", "graph", "xla"), "torch": ("eager", "compile")},
}
# The quick profile leaves the recurrent families (rnn, memory) two TF modes that are never TF's fastest
# there: XLA unrolls the recurrences' Python loops (10-55 s of compilation per case on 2 cores; the NTM's
# train step at T=40 took 193 s), and eager runs Python at every step (3-30x graph's time; 58 s of the
# quick run's 275). The full profile times both.
QUICK_SKIPPED_MODES = {"rnn": ("eager", "xla"), "memory": ("eager", "xla")}

# Generation with a key/value cache (tiny_gpt): prefill over the context, one cached decode step
# at that context, and the uncached step (the full forward over the context for one new token).
GENERATION_PASSES = ("prefill", "decode_cached", "decode_uncached")
GENERATION = {
    "quick": [("V256 D128 N2 H4 B4", dict(vocab_size=256, d_model=128, num_heads=4, head_dim=32, num_layers=2), 4, (64, 256))],
    "full": [
        (f"{p} V1024 D256 N4 H4 B8", dict(vocab_size=1024, d_model=256, num_heads=4, head_dim=64, num_layers=4, path=p),
         8, (64, 128, 256, 512, 1024, 2048))
        for p in ("explicit", "fused")  # the quick profile's budget holds the explicit path only
    ] + [
        # GPT-2 small (124M parameters) decoding one sequence, as a converted checkpoint does.
        (f"{p} gpt2-small V50257 D768 N12 H12 B1",
         dict(vocab_size=50257, d_model=768, num_heads=12, head_dim=64, num_layers=12, path=p), 1, (128, 1024))
        for p in ("explicit", "fused")
    ],
}  # fmt: skip
PASSES = ("forward", "train")  # train = forward + gradients of every weight and floating input

# The frameworks' own layers computing the same function (loaded with the same weights).
BUILTINS = {
    "scaled_dot_product_attention": {
        "torch": ["F.scaled_dot_product_attention"],
        "tf": ["keras.ops.dot_product_attention"],
    },
    "multi_head_attention": {"torch": ["nn.MultiheadAttention"], "tf": ["keras.layers.MultiHeadAttention"]},
    "rnn": {"torch": ["nn.RNN"], "tf": ["keras.layers.SimpleRNN"]},
    "lstm": {"torch": ["nn.LSTM"], "tf": ["keras.layers.LSTM"]},
    "gru": {"torch": ["nn.GRU"], "tf": ["keras.layers.GRU"]},
}

# The machine's limit: one large matmul per framework in its fastest mode (TF inside tf.function,
# where it reaches 420-450 GFLOP/s here against ~200 eager; torch eager, which has no faster mode for
# one matmul), per dtype the run benchmarks, timed at the start and again at the end of the run: a
# shared machine drifts, and a ceiling taken once, eagerly, made cases read 111-123 % of it.
GEMM_SIZE = {"cpu": 2048, "gpu": 8192}
GEMM_MODES = {"tf": "graph", "torch": "eager"}
GEMM_DTYPES = ("float32", "bfloat16")  # bfloat16: this CPU has AVX512_BF16 (about twice float32 here)
# The twins timed in bfloat16 too, at their first bench shape: each against the bfloat16 ceiling. float16
# is not timed on CPU: torch has no fast CPU float16 matmul (0.3 GFLOP/s). The LSTM's rows (its explicit
# path, bf16 and float32, whose TF graphs take 3-6 s each to trace) are the full profile's only.
LOW_PRECISION_MODELS = {
    "quick": ("scaled_dot_product_attention", "multi_head_attention", "tiny_gpt"),
    "full": ("scaled_dot_product_attention", "multi_head_attention", "tiny_gpt", "lstm"),
}
# The recurrent twins run 16 bits on their explicit path only (the fused one is refused there); the quick
# shape is on the fused path, so the explicit float32 case is timed beside it, for the bf16 / fp32 ratio.
LOW_PRECISION_PATH = {"lstm": "explicit"}
LOW_PRECISION_MODES = {"tf": ("graph",), "torch": ("eager",)}  # the fastest of each; make bench stays in 5 min
GEMM_PHASES = ("start", "end")
GEMM_MIN_ROUNDS = 25  # a GEMM takes 40-90 ms here: 25 rounds give an IQR of a few % of the median
# ...unless that takes more than GEMM_SECONDS: a float32 GEMM of 85-110 ms then gets 13-17 rounds (IQR
# still a few %), and an emulated bfloat16 GEMM (no AVX512_BF16: 0.3 s, 25 rounds of it four times were 30 s
# of the run) 5. Such a GEMM is 4-6x slower than float32's, whose ceiling then carries the 16-bit cases
# (twinmem.report.CARRIED_BY): 5 rounds tell that much.
GEMM_SECONDS, GEMM_FEWEST_ROUNDS = 1.5, 5


def gemm_cases(phase: str) -> list[Case]:
    out = []
    for device in devices():
        for framework in registry.FRAMEWORKS:
            n = GEMM_SIZE[device]
            for dtype in GEMM_DTYPES:
                config = {"n": n, "dtype": dtype, "phase": phase}
                shape = f"{n}x{n}x{n} {dtype} {phase}"
                out.append(Case("gemm", shape, framework, "matmul", GEMM_MODES[framework], "forward", device, config))
    return out


@dataclass(frozen=True)
class Case:
    model: str  # a registry name, or "gemm"
    shape: str  # label of the bench shape, e.g. "B8 T128 D256 H4 causal"
    framework: str  # "tf" | "torch"
    impl: str  # "twin" or the built-in's name
    mode: str  # "eager" | "graph" | "xla" | "compile"
    pass_: str  # "forward" | "train"
    device: str  # "cpu" | "gpu"
    config: dict = field(default_factory=dict, compare=False, hash=False)
    inputs: dict = field(default_factory=dict, compare=False, hash=False)
    dtype: str = "float32"  # of the twin; a GEMM's is in its config

    @property
    def id(self) -> str:
        suffix = "" if self.dtype == "float32" else f"|{self.dtype}"  # float32 ids as they always were
        return f"{self.model}|{self.shape}|{self.framework}|{self.impl}|{self.mode}|{self.pass_}|{self.device}{suffix}"


def devices() -> list[str]:
    want = os.environ.get("TWINMEM_DEVICE", "all")
    if want not in ("cpu", "gpu", "all"):
        raise ValueError(f"TWINMEM_DEVICE must be cpu, gpu or all. Received: {want!r}")
    found = ["cpu"]
    if unavailable("torch") is None:
        import torch

        if torch.cuda.is_available():
            found.append("gpu")
    # DEVICE=gpu on a machine without one still yields gpu cases: they are skipped with the reason.
    return found if want == "all" else [want]


def profile() -> str:
    p = os.environ.get("TWINMEM_PROFILE", "quick")
    if p not in MODES:
        raise ValueError(f"TWINMEM_PROFILE must be one of {sorted(MODES)}. Received: {p!r}")
    return p


def modes(framework: str, family: str = "") -> tuple[str, ...]:
    chosen = os.environ.get("TWINMEM_MODES")
    if not chosen:
        skipped = QUICK_SKIPPED_MODES.get(family, ()) if profile() == "quick" and framework == "tf" else ()
        return tuple(m for m in MODES[profile()][framework] if m not in skipped)
    allowed = {"tf": ("eager", "graph", "xla"), "torch": ("eager", "compile")}[framework]
    return tuple(m for m in chosen.split(",") if m in allowed)


def all_cases() -> list[Case]:
    out = gemm_cases("start")
    timed_builtins = set()  # a built-in ignores the twin's `path`: timed once per shape, not once per path
    for entry in registry.entries():
        shapes = entry.bench_shapes.get(profile(), [])
        # Latency: the first shape again at batch 1, forward only, on each of its paths (the twin / built-in
        # table compares the twin's fastest path, so timing the explicit one alone made the fused look absent).
        first = [s for s in shapes if path_free(s[0]) == path_free(shapes[0][0])]
        latency = [(f"{label} latency B1", config, {**inputs, "batch": 1}) for label, config, inputs in first]
        for label, config, inputs in shapes + latency:
            passes = ("forward",) if label.endswith("latency B1") else PASSES
            for device in devices():
                for framework in registry.FRAMEWORKS:
                    impls = ["twin"]
                    for impl in BUILTINS.get(entry.name, {}).get(framework, []):
                        key = (impl, device, repr({k: v for k, v in config.items() if k != "path"}), repr(inputs))
                        if key not in timed_builtins:
                            timed_builtins.add(key)
                            impls.append(impl)
                    # The impl innermost: a built-in is timed right after the twin in the same mode and pass,
                    # seconds apart rather than minutes (the twin / built-in table divides the two, and a shared
                    # machine drifts: one ratio read 1.44 sequentially, 1.09 interleaved).
                    for mode in modes(framework, entry.family):
                        for pass_ in passes:
                            for impl in impls:
                                out.append(
                                    Case(entry.name, label, framework, impl, mode, pass_, device, config, inputs)
                                )
    for name in LOW_PRECISION_MODELS[profile()]:
        entry = registry.get(name)
        for label, config, inputs in entry.bench_shapes.get(profile(), [])[:1]:
            dtypes = ["bfloat16"]
            path = LOW_PRECISION_PATH.get(name)
            if path is not None and config.get("path") != path:
                label, config = label.replace(config["path"], path, 1), {**config, "path": path}
                dtypes.insert(0, "float32")
            for device in devices():
                for framework in registry.FRAMEWORKS:
                    for mode in (m for m in modes(framework, entry.family) if m in LOW_PRECISION_MODES[framework]):
                        for pass_ in PASSES:
                            for dtype in dtypes:
                                out.append(
                                    Case(name, label, framework, "twin", mode, pass_, device, config, inputs, dtype)
                                )
    if "tiny_gpt" in registry.names():
        for label, config, batch, contexts in GENERATION[profile()]:
            for context in contexts:
                for device in devices():
                    for framework in registry.FRAMEWORKS:
                        for mode in modes(framework, "transformer"):
                            for pass_ in GENERATION_PASSES:
                                out.append(
                                    Case("tiny_gpt", f"{label} ctx{context}", framework, "twin", mode, pass_, device,
                                         {**config, "max_len": context}, {"batch": batch, "steps": context})
                                )  # fmt: skip
    return out + gemm_cases("end")
