"""The parity harness, generic over the registry: TF twin vs torch twin vs the NumPy reference.

For a model, a variant and a dtype it runs the three sides on the same canonical weights and
inputs and compares, for every pair, each intermediate, each output and the gradient of
L = sum_k <c_k, out_k> (fixed random cotangents c_k) with respect to every floating input and
every weight. The reference is float64 always; the twins run in the dtype under test on the
same weights, inputs and cotangents rounded to that dtype, so only the arithmetic differs.

In bfloat16 and float16 this is an error model rather than a tolerance: each record also gives its
error in units of the dtype's unit roundoff u (``error_u``), each twin must be within a bound in u of
the exact oracle (``TOLERANCES``, with how the bound was derived), and the two twins must err alike,
quantity by quantity (``SAME_ORDER``), so that a twin making another rounding choice than its twin
(summing a matmul in 16 bits) fails even where both stay within the bound.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from twinmem import registry
from twinmem.entry import LOW_PRECISION, ModelEntry
from twinmem.frameworks import unavailable
from twinmem.reference.backend import HAS_AUTOGRAD
from twinmem.reference.backend import np as anp
from twinmem.weights import round_to

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
    # bfloat16 (u = 2^-8) and float16 (u = 2^-11): 6 u, for every pair, the tf-torch one included. The
    # reference is exact on the same rounded weights, inputs and cotangents, so a twin's error is its
    # own rounding: every step rounds its result once (<= u/2 of it), and the long sums run in float32
    # (matmuls with their bias adds, softmax, LayerNorm: the family docstrings), adding at most
    # n 2^-24 for a sum of n terms, i.e. n 2^-13 u in float16 and n 2^-16 u in bfloat16: under 0.1 u
    # up to n = 800 (float16) and 6500 (bfloat16); the few gradient sums left in the dtype (of a
    # broadcast, over <= 5 terms here) add about 1 u. The error is then the few roundings along a
    # quantity's chain, propagated, and does not grow with the reduction length: measured on the
    # example inputs, at most 3.1 u against the reference (weight gradients, the longest chains;
    # outputs and intermediates <= 1.6 u) and 1.6 u tf-torch; 2.6 u (bfloat16) and 2.9 u (float16) at
    # d_model = 256, head_dim = 64. 6 u is twice the worst. A matmul summed in the 16-bit dtype errs by
    # about sqrt(n) u/2 instead and fails it: measured 10.5 u and 12.8 u at n = 256.
    "bfloat16": 6 * 2.0**-8,
    "float16": 6 * 2.0**-11,
}
# The unit roundoff u of each dtype (half the distance from 1 to the next number): every record also
# states its error in units of u, error_u = max_rel / u.
UNIT_ROUNDOFF = {"float64": 2.0**-53, "float32": 2.0**-24, "bfloat16": 2.0**-8, "float16": 2.0**-11}
# In bfloat16 and float16 the twins must also err alike, quantity by quantity: max(e_tf, 1) / max(e_torch, 1)
# (their errors against the reference in u, floored at one u, below which rounding alone decides) within
# this factor either way, else the tf-torch record fails. The twins make the same rounding choices and
# part only in the order of a few gradient sums (a broadcast's, or a tensor used three times): measured
# at most 1.5 (additive_attention float16, W2's gradient). One twin summing a matmul in the 16-bit dtype:
# a factor 9 to 10 at n = 256 (mid:v of multi_head_attention), caught even where the bound alone is not.
SAME_ORDER = 3.0
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
    # max_rel in units of the dtype's unit roundoff (UNIT_ROUNDOFF), the unit the 16-bit bounds of TOLERANCES
    # are stated in; None where not measured.
    error_u: float | None = None

    def line(self) -> str:
        in_u = (
            ""
            if self.error_u is None
            else f" = {self.error_u:.3g} u (bound {self.tol / UNIT_ROUNDOFF[self.dtype]:.3g} u)"
        )
        return (
            f"{self.model} {self.dtype} {self.pair} {self.quantity}: max_abs={self.max_abs:.3e} "
            f"max_rel={self.max_rel:.3e}{in_u} (tol {self.tol:.0e}) {self.where}"
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


def run_sides(
    name: str, variant: str, dtype: str, seed: int = 0, **overrides: Any
) -> tuple[ModelEntry, dict[str, Side], dict[str, str]]:
    """Outputs, intermediates and gradients of each available side, plus the skip reasons.

    ``overrides``: config fields on top of the variant's (a larger shape, to see how an error grows)."""
    entry = registry.get(name)
    config = entry.make_config(variant, **overrides)
    # Weights, inputs and cotangents are rounded to the dtype under test first (round to nearest even,
    # twinmem.weights.round_to), so every side sees the same values: only the arithmetic differs.
    weights = {n: round_to(w, dtype) for n, w in entry.random_weights(config, seed).items()}
    inputs = {
        n: (round_to(x, dtype) if x.dtype.kind == "f" else x)
        for n, x in entry.make_inputs(config, seed + 1, variant).items()
    }
    ref_outputs, _ = entry.reference(weights, config, **inputs)
    rng = np.random.default_rng(seed + 2)
    cotangents = [
        round_to(rng.standard_normal(np.shape(o)), dtype) if np.asarray(o).dtype.kind == "f" else None
        for o in ref_outputs
    ]
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


def check_model(
    name: str, variant: str, dtype: str, seed: int = 0, **overrides: Any
) -> tuple[list[Record], dict[str, str]]:
    """Every record of one (model, variant, dtype); returns (records, skipped frameworks with reasons).

    A model whose twins are not made for ``dtype`` (``ModelEntry.supports``) or a variant that refuses it
    (``ModelEntry.variant_refusal``: a recurrent fused path in bfloat16 and float16) gives no records and
    says so among the skipped; building it is refused.
    """
    entry = registry.get(name)
    label = name if list(entry.variants) == ["default"] else f"{name}[{variant}]"
    if not entry.supports(dtype):
        return [], {f"{name} {dtype}": f"{name!r} is not supported yet in {dtype}"}
    refusal = entry.variant_refusal(variant, dtype)
    if refusal is not None:
        return [], {f"{label} {dtype}": refusal}
    entry, sides, skipped = run_sides(name, variant, dtype, seed, **overrides)
    tol, u = TOLERANCES[dtype], UNIT_ROUNDOFF[dtype]
    failed_u = float("inf")  # a quantity on one side only
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
            records.append(Record(label, dtype, f"{a}-{b}", f"mid:{n}", np.inf, np.inf, tol, False, where, failed_u))
        for n, x, y in zip(entry.outputs, out_a, out_b, strict=True):
            # None: an output the path does not compute (a fused kernel's attention weights), on every side.
            if x is not None and y is not None:
                quantities.append((f"out:{n}", x, y))
            elif x is not None or y is not None:
                where = f"only {a if y is None else b} computes it"
                records.append(
                    Record(label, dtype, f"{a}-{b}", f"out:{n}", np.inf, np.inf, tol, False, where, failed_u)
                )
        missing = sorted(set(grad_a) ^ set(grad_b))
        if missing and (grad_a and grad_b):  # an empty side is the reference without autograd (skipped)
            raise ValueError(f"{label}: gradients {missing} exist on one side of {a}-{b} only")
        quantities += [(f"grad:{n}", grad_a[n], grad_b[n]) for n in grad_a if n in grad_b]
        for q, x, y in quantities:
            max_abs, max_rel, ok, where = compare(x, y, tol, (a, b))
            records.append(Record(label, dtype, f"{a}-{b}", q, max_abs, max_rel, tol, ok, where, max_rel / u))
    if dtype in LOW_PRECISION:
        same_order(records)
    return records, skipped


def same_order(records: list[Record]) -> None:
    """Fail the tf-torch record of each quantity whose two twins' errors against the reference differ by
    more than ``SAME_ORDER`` (in u, floored at one u): one twin rounding where the other does not."""
    by_pair = {(r.pair, r.quantity): r for r in records}
    for r in records:
        if r.pair != "tf-torch":
            continue
        tf_ref, torch_ref = by_pair.get(("tf-reference", r.quantity)), by_pair.get(("torch-reference", r.quantity))
        if tf_ref is None or torch_ref is None:
            continue
        u = UNIT_ROUNDOFF[r.dtype]
        e_tf, e_torch = max(tf_ref.max_rel / u, 1.0), max(torch_ref.max_rel / u, 1.0)
        if max(e_tf / e_torch, e_torch / e_tf) > SAME_ORDER:
            r.ok = False
            r.where += (
                f"; not of the same order: tf-reference {tf_ref.max_rel / u:.3g} u, torch-reference "
                f"{torch_ref.max_rel / u:.3g} u (factor > {SAME_ORDER:g})"
            )


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
