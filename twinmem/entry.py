"""What the registry knows of one model: ``ModelEntry``, and the frameworks and dtypes twins are made for.

An entry carries what the parity harness and the benchmarks need and nothing framework-specific:
the config dataclass, the canonical weight shapes as a function of the config, example inputs
drawn from a seed, the NumPy float64 reference, and where each twin class lives (imported only
when a twin is built, so ``twinmem`` itself never imports TensorFlow or torch).
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from twinmem import checks
from twinmem.layouts.recurrent import fused_refusal
from twinmem.weights import FLOAT_DTYPES, Shapes, Weights, random_weights

FRAMEWORKS = ("tf", "torch")


# The dtypes twins are made for and parity covers (twinmem.parity.TOLERANCES has a bound for each).
DTYPES = FLOAT_DTYPES
# The 16-bit dtypes, and the families whose twins follow the precision rules of their docstrings in them
# (softmax and LayerNorm in float32, matmuls accumulated in float32): the others are refused in them.
LOW_PRECISION = checks.LOW_PRECISION
LOW_PRECISION_FAMILIES = ("attention", "transformer", "memory", "rnn")


@dataclass(frozen=True)
class ModelEntry:
    name: str
    family: str  # the file the twins live in: tf_impl/<family>.py, torch_impl/<family>.py
    class_name: str  # the same in both twins
    config: type  # a dataclass with defaults, from twinmem.configs.<family>
    weight_shapes: Callable[[Any], Shapes]
    example_inputs: Callable[[Any, int], dict[str, np.ndarray]]  # (config, seed) -> named inputs
    reference: Callable[..., tuple[tuple, dict]]  # (weights, config, **inputs) -> (outputs, intermediates)
    outputs: tuple[str, ...]  # names of what the forward returns, in order
    flops: Callable[[Any, Mapping[str, np.ndarray]], int]  # forward FLOPs for these inputs, analytic
    # Named configurations that parity covers, as overrides of the defaults ("default" = none).
    variants: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: {"default": {}})
    # Example-input overrides of a variant (e.g. a rank-2 query), by variant name.
    variant_inputs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # Benchmark shapes: profile -> list of (label, config overrides, input-shape overrides).
    bench_shapes: Mapping[str, list] = field(default_factory=dict)
    summary: str = ""

    def _check_variant(self, variant: str) -> None:
        if variant != "default" and variant not in self.variants:
            raise ValueError(
                f"Unknown variant {variant!r} for model {self.name!r}; expected one of {sorted(self.variants)}"
            )

    def make_config(self, variant: str = "default", **overrides: Any) -> Any:
        self._check_variant(variant)
        return dataclasses.replace(self.config(), **{**self.variants.get(variant, {}), **overrides})

    def make_inputs(self, config: Any, seed: int = 1, variant: str = "default", **shape: Any) -> dict[str, np.ndarray]:
        self._check_variant(variant)
        return self.example_inputs(config, seed, **{**self.variant_inputs.get(variant, {}), **shape})

    def random_weights(self, config: Any, seed: int = 0) -> Weights:
        return random_weights(self.weight_shapes(config), seed)

    def twin_class(self, framework: str) -> type:
        if framework not in FRAMEWORKS:
            raise ValueError(f"framework must be one of {FRAMEWORKS}, received {framework!r}")
        module = importlib.import_module(f"{framework}_impl.{self.family}")
        return getattr(module, self.class_name)

    def supports(self, dtype: str) -> bool:
        """Whether this model's twins are made for ``dtype`` (every model: float32 and float64)."""
        return checks.check_twin_dtype(dtype) not in LOW_PRECISION or self.family in LOW_PRECISION_FAMILIES

    def variant_refusal(self, variant: str, dtype: str) -> str | None:
        """Why a variant's twins refuse ``dtype`` though the family takes it, or None: a recurrent fused path
        (a framework's own kernel) in 16 bits (``twinmem.layouts.recurrent.fused_refusal``)."""
        path = getattr(self.make_config(variant), "path", None)
        return fused_refusal(path, dtype) if self.family == "rnn" and path is not None else None

    def build(self, framework: str, config: Any, dtype: str = "float32", weights: Weights | None = None) -> Any:
        """Build the tf or torch twin, loading canonical ``weights`` if given (cast to ``dtype``, see
        ``twinmem.weights.cast_to``). A model outside ``LOW_PRECISION_FAMILIES`` in bfloat16 or float16
        is refused: its twins have no stated precision rules there, and would compute each framework's own."""
        if not self.supports(dtype):
            raise ValueError(
                f"Model {self.name!r} is not supported yet in {dtype}: the {self.family} twins have no "
                f"{dtype} precision rules (supported in {LOW_PRECISION}: the {' and '.join(LOW_PRECISION_FAMILIES)} "
                "families)"
            )
        model = self.twin_class(framework)(config, dtype=dtype)
        if weights is not None:
            model.load_canonical(weights)
        return model
