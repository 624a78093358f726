"""The parity harness, generic over the registry: TF twin vs torch twin vs the NumPy reference.

For a model, a variant and a dtype it runs the three sides on the same canonical weights and
inputs and compares, for every pair, each intermediate, each output and the gradient of
L = sum_k <c_k, out_k> (fixed random cotangents c_k) with respect to every floating input and
every weight. The reference is float64 always; the twins run in the dtype under test on the
same weights and inputs rounded to that dtype, so only the arithmetic differs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from twinmem import registry
from twinmem.entry import ModelEntry
from twinmem.frameworks import unavailable
from twinmem.reference.backend import HAS_AUTOGRAD
from twinmem.reference.backend import np as anp

# The one place tolerances live. A quantity passes when
#     max |a - b|  <=  rtol * max(scale, 1),   scale = max(|a|, |b|) over the quantity,
# i.e. errors are measured relative to the quantity's largest magnitude, with a floor of one
# unit: the example inputs and weights are of order one, and a quantity that is zero in exact
# arithmetic (the gradient of a bias in front of a softmax) is then judged against the scale of
# the terms that cancel to give it, not against its own rounding noise.
TOLERANCES = {
    # Unit roundoff 1.1e-16; a few reductions of length <= 10^2 and a softmax stay near 1e-14.
    "float64": 1e-12,
    # Unit roundoff 6e-8; the same reductions, and the reference's exact float64, stay near 1e-6.
    "float32": 1e-5,
}
# Two twins trained side by side from the same weights on the same batches: the largest
# |loss_tf - loss_torch| / max(|loss|, 1) over a short run (parity_tests/test_train.py). Step 1 is a
# forward pass, held to TOLERANCES["float32"]; after it, Adam divides each gradient component by
# its own RMS, so float32 rounding in a component near zero becomes an update difference of up to
# 2 lr. Measured over 12 steps: 3e-7 (ntm) to 7e-7 (tiny_gpt, memn2n). 1e-3 leaves room for other
# BLAS builds and still fails for a real difference: other batches, another loss or a wrong update
# rule move the loss by far more within a step or two (the tests also require a 5 % decrease).
TRAIN_DRIFT = 1e-3
# What one side hands back: outputs, intermediates by name, gradients by "input:<name>" / "weight:<name>".
Side = tuple[tuple[np.ndarray | None, ...], dict[str, np.ndarray], dict[str, np.ndarray]]
PAIRS = (("tf", "torch"), ("tf", "reference"), ("torch", "reference"))


@dataclass
class Record:
    model: str  # "name" or "name[variant]"
    dtype: str
    pair: str  # "tf-torch", "tf-reference", "torch-reference"
    quantity: str  # "mid:scores", "out:context", "grad:input:query", "grad:weight:W1"
    max_abs: float
    max_rel: float
    tol: float
    ok: bool
    where: str = ""  # worst element: index and both values

    def line(self) -> str:
        return (
            f"{self.model} {self.dtype} {self.pair} {self.quantity}: max_abs={self.max_abs:.3e} "
            f"max_rel={self.max_rel:.3e} (tol {self.tol:.0e}) {self.where}"
        )


def compare(a: np.ndarray, b: np.ndarray, tol: float, names: tuple[str, str]) -> tuple[float, float, bool, str]:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        return np.inf, np.inf, False, f"shapes differ: {names[0]} {a.shape}, {names[1]} {b.shape}"
    if a.size == 0:
        return 0.0, 0.0, True, ""
    # No quantity of any model may be NaN or infinite (a fully masked row gives zeros, never NaN):
    # a non-finite value fails, even on both sides, and never enters the scale.
    finite = np.isfinite(a) & np.isfinite(b)
    if not finite.all():
        i = tuple(int(k) for k in np.argwhere(~finite)[0])
        return np.inf, np.inf, False, f"non-finite at {i}: {names[0]}={a[i]!r}, {names[1]}={b[i]!r}"
    err = np.abs(a - b)
    i = tuple(int(k) for k in np.unravel_index(int(np.argmax(err)), err.shape))
    max_abs = float(err[i])
    scale = max(float(np.max(np.abs(a))), float(np.max(np.abs(b))), 1.0)
    max_rel = max_abs / scale
    where = f"worst at {i}: {names[0]}={a[i]!r}, {names[1]}={b[i]!r}"
    return max_abs, max_rel, bool(max_rel <= tol), where


def reference_forward_and_grads(
    entry: ModelEntry,
    config: Any,
    weights: Mapping[str, np.ndarray],
    inputs: Mapping[str, np.ndarray],
    cotangents: list[np.ndarray | None],
) -> Side:
    """The float64 oracle: forward with intermediates, and exact gradients by autograd."""
    float_names = [n for n, x in inputs.items() if x.dtype.kind == "f"]
    outputs, mids = entry.reference(weights, config, **inputs)
    if not HAS_AUTOGRAD:  # forward only; run_sides reports the gradients as skipped
        return (
            tuple(None if o is None else np.asarray(o) for o in outputs),
            {n: np.asarray(m) for n, m in mids.items()},
            {},
        )
    from autograd import grad

    def loss(params: tuple[Mapping[str, Any], Mapping[str, Any]]) -> Any:
        w, xf = params
        outputs, _ = entry.reference(w, config, **{**inputs, **xf})
        return sum(anp.sum(o * c) for o, c in zip(outputs, cotangents, strict=True) if c is not None)

    g_w, g_x = grad(loss)((weights, {n: inputs[n] for n in float_names}))
    grads = {**{f"input:{n}": g_x[n] for n in float_names}, **{f"weight:{n}": g_w[n] for n in weights}}
    return (
        tuple(None if o is None else np.asarray(o) for o in outputs),
        {n: np.asarray(m) for n, m in mids.items()},
        grads,
    )


def run_sides(name: str, variant: str, dtype: str, seed: int = 0) -> tuple[ModelEntry, dict[str, Side], dict[str, str]]:
    """Outputs, intermediates and gradients of each available side, plus the skip reasons."""
    entry = registry.get(name)
    config = entry.make_config(variant)
    # Weights and inputs are rounded to the dtype under test first, so every side sees the same values.
    weights = {n: w.astype(dtype).astype(np.float64) for n, w in entry.random_weights(config, seed).items()}
    inputs = {
        n: (x.astype(dtype).astype(np.float64) if x.dtype.kind == "f" else x)
        for n, x in entry.make_inputs(config, seed + 1, variant).items()
    }
    ref_outputs, _ = entry.reference(weights, config, **inputs)
    rng = np.random.default_rng(seed + 2)
    cotangents = [rng.standard_normal(np.shape(o)) if np.asarray(o).dtype.kind == "f" else None for o in ref_outputs]
    sides = {"reference": reference_forward_and_grads(entry, config, weights, inputs, cotangents)}
    skipped = {} if HAS_AUTOGRAD else {"reference gradients": "autograd is not installed here"}
    for fw in registry.FRAMEWORKS:
        reason = unavailable(fw)
        if reason:
            skipped[fw] = reason
            continue
        run = __import__(f"{fw}_impl.run", fromlist=["forward_and_grads"])
        model = entry.build(fw, config, dtype, weights)
        sides[fw] = run.forward_and_grads(model, inputs, cotangents, dtype)
    return entry, sides, skipped


def check_model(name: str, variant: str, dtype: str, seed: int = 0) -> tuple[list[Record], dict[str, str]]:
    """Every record of one (model, variant, dtype); returns (records, skipped frameworks with reasons)."""
    entry, sides, skipped = run_sides(name, variant, dtype, seed)
    label = name if list(entry.variants) == ["default"] else f"{name}[{variant}]"
    tol = TOLERANCES[dtype]
    records = []
    for a, b in PAIRS:
        if a not in sides or b not in sides:
            continue
        (out_a, mid_a, grad_a), (out_b, mid_b, grad_b) = sides[a], sides[b]
        quantities = [(f"mid:{n}", mid_a[n], mid_b[n]) for n in mid_a if n in mid_b]
        # An intermediate on one side only fails: a renamed or dropped one would hide a divergence.
        # The twins must name the same ones; the reference may name more, since a twin on its fused
        # path (the framework's kernel) exposes none of the kernel's steps.
        one_sided = set(mid_a) ^ set(mid_b) if b != "reference" else set(mid_a) - set(mid_b)
        for n in sorted(one_sided):
            where = f"only {a if n in mid_a else b} has it"
            records.append(Record(label, dtype, f"{a}-{b}", f"mid:{n}", np.inf, np.inf, tol, False, where))
        for n, x, y in zip(entry.outputs, out_a, out_b, strict=True):
            # None: an output the path does not compute (a fused kernel's attention weights), on every side.
            if x is not None and y is not None:
                quantities.append((f"out:{n}", x, y))
            elif x is not None or y is not None:
                where = f"only {a if y is None else b} computes it"
                records.append(Record(label, dtype, f"{a}-{b}", f"out:{n}", np.inf, np.inf, tol, False, where))
        missing = sorted(set(grad_a) ^ set(grad_b))
        if missing and (grad_a and grad_b):  # an empty side is the reference without autograd (skipped)
            raise ValueError(f"{label}: gradients {missing} exist on one side of {a}-{b} only")
        quantities += [(f"grad:{n}", grad_a[n], grad_b[n]) for n in grad_a if n in grad_b]
        for q, x, y in quantities:
            max_abs, max_rel, ok, where = compare(x, y, tol, (a, b))
            records.append(Record(label, dtype, f"{a}-{b}", q, max_abs, max_rel, tol, ok, where))
    return records, skipped


def first_divergence(records: list[Record], failed: Record) -> Record | None:
    """The first intermediate, in computation order, where the failing pair parts."""
    for r in records:
        if r.pair == failed.pair and r.dtype == failed.dtype and r.model == failed.model and not r.ok:
            return r
    return None


def failure_report(records: list[Record]) -> str:
    lines = []
    for r in records:
        if not r.ok:
            first = first_divergence(records, r)
            lines.append(r.line() + (f"\n    first divergence: {first.quantity}" if first and first is not r else ""))
    return "\n".join(lines)


def as_json(records: list[Record]) -> list[dict]:
    return [asdict(r) for r in records]
