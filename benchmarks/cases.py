"""Every benchmark case, generated from the registry: model x shape x framework x impl x mode x pass.

Framework-free: a case is a description; ``tf_steps`` / ``torch_steps`` turn it into a timed step.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from twinmem import registry
from twinmem.frameworks import unavailable

# Execution modes per framework. Compiled modes (XLA, torch.compile) cost seconds to tens of seconds
# of compilation per case on a 2-core CPU, so the quick profile keeps to eager and tf.function.
MODES = {
    "quick": {"tf": ("eager", "graph"), "torch": ("eager",)},
    "full": {"tf": ("eager", "graph", "xla"), "torch": ("eager", "compile")},
}
PASSES = ("forward", "train")  # train = forward + gradients of every weight and floating input

# The frameworks' own layers computing the same function (loaded with the same weights).
BUILTINS = {
    "scaled_dot_product_attention": {
        "torch": ["F.scaled_dot_product_attention"],
        "tf": ["keras.ops.dot_product_attention"],
    },
    "multi_head_attention": {"torch": ["nn.MultiheadAttention"], "tf": ["keras.layers.MultiHeadAttention"]},
}


@dataclass(frozen=True)
class Case:
    model: str
    shape: str  # label of the bench shape, e.g. "B8 T128 D256 H4 causal"
    framework: str  # "tf" | "torch"
    impl: str  # "twin" or the built-in's name
    mode: str  # "eager" | "graph" | "xla" | "compile"
    pass_: str  # "forward" | "train"
    device: str  # "cpu" | "gpu"
    config: dict = field(default_factory=dict, compare=False, hash=False)
    inputs: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def id(self) -> str:
        return f"{self.model}|{self.shape}|{self.framework}|{self.impl}|{self.mode}|{self.pass_}|{self.device}"


def devices() -> list[str]:
    want = os.environ.get("TWINMEM_DEVICE", "all")
    if want not in ("cpu", "gpu", "all"):
        raise ValueError(f"TWINMEM_DEVICE must be cpu, gpu or all. Received: {want!r}")
    found = ["cpu"]
    if unavailable("torch") is None:
        import torch

        if torch.cuda.is_available():
            found.append("gpu")
    return found if want == "all" else [d for d in found if d == want] or [want]


def profile() -> str:
    p = os.environ.get("TWINMEM_PROFILE", "quick")
    if p not in MODES:
        raise ValueError(f"TWINMEM_PROFILE must be one of {sorted(MODES)}. Received: {p!r}")
    return p


def all_cases() -> list[Case]:
    prof, out = profile(), []
    for entry in registry.entries():
        for label, config, inputs in entry.bench_shapes.get(prof, []):
            for device in devices():
                for framework in registry.FRAMEWORKS:
                    impls = ["twin", *BUILTINS.get(entry.name, {}).get(framework, [])]
                    for impl in impls:
                        for mode in MODES[prof][framework]:
                            for pass_ in PASSES:
                                out.append(
                                    Case(entry.name, label, framework, impl, mode, pass_, device, config, inputs)
                                )
    return out
