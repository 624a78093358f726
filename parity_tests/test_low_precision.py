"""bfloat16 and float16 twins: the error model, 16-bit weight files, masks in 16 bits, refusals.

The attention and transformer families run in bfloat16 and float16 under the precision rules of their
docstrings (the memory family: test_low_precision_memory.py); parity holds each twin within a bound in units of the dtype's unit roundoff u of the exact
oracle (``parity.TOLERANCES``) and the two twins to the same order of error (``parity.SAME_ORDER``).
"""

import functools
import json

import numpy as np
import pytest
from conftest import need

import twinmem.entry as twinmem_entry
from twinmem import cli, parity, registry
from twinmem.entry import LOW_PRECISION, LOW_PRECISION_FAMILIES
from twinmem.frameworks import unavailable
from twinmem.weights import cast_to, load_weights, round_to, save_weights

LOW = list(LOW_PRECISION)
# The memory family has its own file (test_low_precision_memory.py: the NTM's bound grows with T).
CASES = [(e.name, v) for e in registry.entries() if e.family in ("attention", "transformer") for v in e.variants]


@functools.cache
def _records(name: str, variant: str, dtype: str):
    return parity.check_model(name, variant, dtype)


@pytest.mark.parametrize("dtype", LOW)
@pytest.mark.parametrize(("name", "variant"), CASES, ids=[f"{n}[{v}]" for n, v in CASES])
def test_parity_in_units_of_u(name, variant, dtype):
    # One test per (model, variant, dtype), every pair at once: the same-order check needs all three.
    for side in ("tf", "torch"):
        need(side)
    records, skipped = _records(name, variant, dtype)
    assert not skipped
    bound_u = parity.TOLERANCES[dtype] / parity.UNIT_ROUNDOFF[dtype]
    assert {r.pair for r in records} == {"tf-torch", "tf-reference", "torch-reference"}
    assert any(r.quantity.startswith("grad:weight:") or r.quantity.startswith("grad:input:") for r in records)
    for r in records:
        assert r.error_u is not None and r.error_u == pytest.approx(r.max_rel / parity.UNIT_ROUNDOFF[dtype], rel=1e-3)
    failed = [r for r in records if not r.ok]
    assert not failed, f"bound {bound_u:g} u:\n" + parity.failure_report(records)


def _low_precision_sum_matmul(matmul):
    """A matmul that sums its products in the 16-bit dtype, term by term (as a 16-bit-accumulating kernel)."""
    import torch

    def low(a, b, bias=None):
        if a.dtype not in (torch.bfloat16, torch.float16):
            return matmul(a, b, bias)
        products = a.unsqueeze(-1) * b.unsqueeze(-3)  # (..., m, n, p), each rounded to the dtype
        total = products[..., 0, :]
        for i in range(1, products.shape[-2]):
            total = total + products[..., i, :]  # rounded at every step
        return total if bias is None else total + bias

    return low


@pytest.mark.parametrize("dtype", LOW)
def test_a_twin_that_sums_a_matmul_in_16_bits_fails(monkeypatch, dtype):
    need("tf")
    need("torch")
    import torch_impl.attention as torch_attention

    monkeypatch.setattr(torch_attention, "matmul", _low_precision_sum_matmul(torch_attention.matmul))
    # Sums of n = 256 terms: the float32 sums of the TF twin stay near 2.6 u, the 16-bit ones reach 10 u.
    records, _ = parity.check_model("multi_head_attention", "default", dtype, d_model=256, num_heads=4, head_dim=64)
    failed = [r for r in records if not r.ok]
    assert failed and all(r.pair in ("tf-torch", "torch-reference") for r in failed)
    assert any("not of the same order" in r.where for r in failed)
    assert all(r.ok for r in records if r.pair == "tf-reference")


def test_cli_parity_runs_in_16_bits(tmp_path):
    need("tf")
    need("torch")
    path = tmp_path / "p.json"
    code = cli.main(["parity", "--model", "scaled_dot_product_attention", "--dtype", "float16", "--json", str(path)])
    records = json.loads(path.read_text())
    assert code == 0 and records and all(r["ok"] and r["dtype"] == "float16" for r in records)
    assert all(float(r["error_u"]) * 2.0**-11 == pytest.approx(r["max_rel"], rel=1e-3) for r in records)


def test_records_of_other_dtypes_carry_error_u_too():
    need("torch")
    records, _ = parity.check_model("scaled_dot_product_attention", "default", "float32")
    assert all(r.ok and float(r.error_u) * 2.0**-24 == pytest.approx(r.max_rel, rel=1e-3) for r in records)


# -- weights in 16 bits ----------------------------------------------------------------------------------


@pytest.mark.parametrize("framework", ["tf", "torch"])
@pytest.mark.parametrize("dtype", LOW)
def test_a_16_bit_file_round_trips_bit_exact(framework, dtype, tmp_path):
    need(framework)
    entry = registry.get("tiny_gpt")
    config = entry.make_config()
    weights = {n: cast_to(w, dtype) for n, w in entry.random_weights(config, seed=3).items()}
    path = tmp_path / "w.safetensors"
    save_weights(path, weights, entry.name, config)
    loaded, _ = load_weights(path, bfloat16=True)
    assert all(loaded[n].dtype.name == dtype for n in weights)
    model = entry.build(framework, config, dtype)
    model.load_canonical(path)
    exported = model.export_canonical()
    assert list(exported) == list(weights)
    for n, w in weights.items():
        assert exported[n].dtype == w.dtype and exported[n].tobytes() == w.tobytes(), n
    path2 = tmp_path / "again.safetensors"
    save_weights(path2, exported, entry.name, config)
    again, _ = load_weights(path2, bfloat16=True)
    assert all(again[n].dtype == w.dtype and again[n].tobytes() == w.tobytes() for n, w in weights.items())


@pytest.mark.parametrize("framework", ["tf", "torch"])
@pytest.mark.parametrize(("source", "target"), [("bfloat16", "float16"), ("float16", "bfloat16")])
def test_one_16_bit_format_into_the_other_needs_a_stated_cast(framework, source, target):
    need(framework)
    entry = registry.get("multi_head_attention")
    config = entry.make_config()
    weights = {n: cast_to(w, source) for n, w in entry.random_weights(config, seed=3).items()}
    model = entry.build(framework, config, target)
    before = model.export_canonical()
    with pytest.raises(ValueError, match=f"is {source} and this twin is {target}.*allow_16_bit_cast=True"):
        model.load_canonical(weights)
    assert all(v.tobytes() == before[n].tobytes() for n, v in model.export_canonical().items())  # nothing assigned
    model.load_canonical(weights, allow_16_bit_cast=True)
    for n, w in model.export_canonical().items():
        assert w.tobytes() == cast_to(weights[n], target).tobytes(), n


@pytest.mark.parametrize("framework", ["tf", "torch"])
def test_a_weight_beyond_float16s_range_is_refused_not_made_infinite(framework):
    need(framework)
    entry = registry.get("multi_head_attention")
    config = entry.make_config()
    weights = entry.random_weights(config, seed=3)
    weights["W_v"] = weights["W_v"].copy()
    weights["W_v"][0, 0] = 7e4  # float16's largest finite value is 65504
    with pytest.raises(ValueError, match=r"Weight 'W_v' holds 1 value\(s\) beyond float16's range.*70000.*65504"):
        entry.build(framework, config, "float16", weights)
    entry.build(framework, config, "bfloat16", weights)  # bfloat16 has float32's range: 7e4 rounds to 69632


def test_other_readers_still_refuse_bfloat16_files_by_name(tmp_path):
    # The converters read with load_weights(path): their layouts are float32 and float64 only.
    save_weights(tmp_path / "w.safetensors", {"W": cast_to(np.ones((2, 2)), "bfloat16")})
    with pytest.raises(ValueError, match="holds BF16 tensors"):
        load_weights(tmp_path / "w.safetensors")


@pytest.mark.parametrize("framework", ["tf", "torch"])
@pytest.mark.parametrize("dtype", LOW)
def test_a_wider_file_rounds_to_nearest_even_once(framework, dtype, tmp_path):
    need(framework)
    entry = registry.get("multi_head_attention")
    config = entry.make_config()
    weights = entry.random_weights(config, seed=5)
    # A value just above a tie of the 16-bit dtype: rounding once goes up; through float32 first (what both
    # frameworks' own float64 -> 16-bit casts do) the 2^-30 is lost and the tie rounds down, to even.
    ulp = {"bfloat16": 2.0**-7, "float16": 2.0**-10}[dtype]
    weights["W_q"][0, 0] = 1.0 + ulp / 2 + 2.0**-30
    weights["W_k"] = weights["W_k"].astype(np.float32)  # a float32 weight casts by the same rule
    model = entry.build(framework, config, dtype, weights)
    exported = model.export_canonical()
    assert float(exported["W_q"][0, 0]) == 1.0 + ulp
    for n, w in weights.items():
        assert exported[n].tobytes() == cast_to(w, dtype).tobytes(), n
    path = tmp_path / "w32.safetensors"
    save_weights(path, {n: w.astype(np.float32) for n, w in weights.items()}, entry.name, config)
    model.load_canonical(path)
    for n, w in model.export_canonical().items():
        assert w.tobytes() == cast_to(weights[n].astype(np.float32), dtype).tobytes(), n


def test_non_finite_16_bit_weights_are_refused():
    need("torch")
    entry = registry.get("additive_attention")
    config = entry.make_config()
    weights = {n: cast_to(w, "bfloat16") for n, w in entry.random_weights(config).items()}
    weights["b1"][0] = np.nan
    with pytest.raises(ValueError, match="Weight 'b1' holds 1 NaN or infinite"):
        entry.build("torch", config, "bfloat16", weights)


# -- masks in 16 bits --------------------------------------------------------------------------------------

MASKED = [
    ("additive_attention", "default"),
    ("luong_attention", "concat"),
    ("scaled_dot_product_attention", "default"),
    ("scaled_dot_product_attention", "fused"),
    ("multi_head_attention", "causal"),
    ("multi_head_attention", "causal_fused"),
]


@pytest.mark.parametrize("framework", ["tf", "torch"])
@pytest.mark.parametrize("dtype", LOW)
@pytest.mark.parametrize(("name", "variant"), MASKED, ids=[f"{n}[{v}]" for n, v in MASKED])
def test_masked_positions_have_no_influence_in_16_bits(framework, dtype, name, variant):
    # NaN and inf at masked positions reach no output and no gradient; the example inputs' last row is
    # fully masked, and gives zeros, never NaN.
    need(framework)
    run = __import__(f"{framework}_impl.run", fromlist=["forward_and_grads"])
    entry = registry.get(name)
    config = entry.make_config(variant)
    weights = {n: round_to(w, dtype) for n, w in entry.random_weights(config).items()}
    model = entry.build(framework, config, dtype, weights)
    inputs = entry.make_inputs(config, variant=variant)
    mask = inputs["mask"]
    assert not mask.any(axis=1).all()  # a fully masked row is among them
    poisoned = dict(inputs)
    for n in ("values", "key", "value"):
        if n in inputs:
            x = inputs[n].copy()
            x[~mask] = np.nan
            x[~mask & (np.arange(x.shape[1]) % 2 == 0)] = np.inf
            poisoned[n] = x
    outputs, _ = entry.reference(weights, config, **inputs)
    cotangents = [None if o is None else np.ones(np.shape(o)) for o in outputs]
    clean_out, _, clean_grads = run.forward_and_grads(model, inputs, cotangents, dtype)
    out, mids, grads = run.forward_and_grads(model, poisoned, cotangents, dtype)
    for a, b in zip(clean_out, out, strict=True):
        if a is not None:
            assert np.isfinite(b).all()
            np.testing.assert_array_equal(a, b)
    empty = ~mask.any(axis=1)
    context = mids["heads"] if "heads" in mids else out[0]  # multi-head: the output is then b_o
    assert np.all(context[empty] == 0), "a fully masked row gives zeros"
    for n, g in grads.items():
        assert np.isfinite(g).all(), n
        np.testing.assert_array_equal(g, clean_grads[n], err_msg=n)


@pytest.mark.parametrize("framework", ["tf", "torch"])
@pytest.mark.parametrize("dtype", LOW)
def test_masked_scores_use_the_dtypes_finite_minimum(framework, dtype):
    need(framework)
    core = __import__(f"{framework}_impl.attention", fromlist=["masked_softmax"])
    run = __import__(f"{framework}_impl.run", fromlist=["to_tensors"])
    # Scores near the dtype's largest value, one row fully masked: finite weights, that row zero.
    big = {"bfloat16": 3.0e38, "float16": 6.0e4}[dtype]
    x = run.to_tensors({"s": np.array([[big, -big, 1.0], [big, big, big]])}, dtype)["s"]
    m = run.to_tensors({"m": np.array([[True, True, False], [False, False, False]])}, dtype)["m"]
    weights = run.to_numpy(core.masked_softmax(x, m))
    assert np.isfinite(weights).all()
    np.testing.assert_array_equal(weights, [[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])


@pytest.mark.parametrize("framework", ["tf", "torch"])
@pytest.mark.parametrize("dtype", LOW)
def test_tiny_gpt_with_a_fully_padded_row_stays_finite(framework, dtype):
    need(framework)
    run = __import__(f"{framework}_impl.run", fromlist=["to_tensors"])
    entry = registry.get("tiny_gpt")
    config = entry.make_config()
    model = entry.build(framework, config, dtype, entry.random_weights(config))
    inputs = entry.make_inputs(config)
    assert not inputs["mask"][-1].any()
    (logits,) = model(**run.to_tensors(inputs, dtype))
    assert np.isfinite(run.to_numpy(logits)).all()


# -- refusals --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", LOW)
def test_a_family_off_the_16_bit_list_is_refused(monkeypatch, dtype):
    # Every family has 16-bit rules today; the list is read when a twin is built, so one taken off it
    # (a family whose rules are not written yet) is refused, naming the model and the dtype.
    monkeypatch.setattr(twinmem_entry, "LOW_PRECISION_FAMILIES", tuple(f for f in LOW_PRECISION_FAMILIES if f != "rnn"))
    entry = registry.get("lstm")
    with pytest.raises(ValueError, match=rf"Model 'lstm' is not supported yet in {dtype}"):
        entry.build("torch", entry.make_config(), dtype)
    records, skipped = parity.check_model("lstm", "default", dtype)
    assert records == [] and skipped


@pytest.mark.parametrize("framework", ["tf", "torch"])
@pytest.mark.parametrize(
    ("dtype", "error", "match"),
    [
        ("int32", ValueError, r"Expected `dtype` to be one of .*Received: 'int32'"),
        ("complex64", ValueError, r"Expected `dtype` to be one of .*Received: 'complex64'"),
        ("half", ValueError, r"Expected `dtype` to be one of .*Received: 'half'"),
        (np.float16, TypeError, r"Expected `dtype` to be one of .* \(a name\)\. Received: .*float16"),
        (16, TypeError, r"Expected `dtype` to be one of .* \(a name\)\. Received: 16 of type int"),
    ],
)
def test_bad_dtypes_are_refused_by_name(framework, dtype, error, match):
    entry = registry.get("scaled_dot_product_attention")
    with pytest.raises(error, match=match):
        entry.build(framework, entry.make_config(), dtype)
    need(framework)
    twin_class = entry.twin_class(framework)
    with pytest.raises(error, match=match):
        twin_class(entry.make_config(), dtype=dtype)


@pytest.mark.parametrize("framework", ["tf", "torch"])
def test_a_float32_input_into_a_bfloat16_twin_is_refused(framework):
    need(framework)
    run = __import__(f"{framework}_impl.run", fromlist=["to_tensors"])
    entry = registry.get("multi_head_attention")
    config = entry.make_config()
    model = entry.build(framework, config, "bfloat16", entry.random_weights(config))
    inputs = run.to_tensors(entry.make_inputs(config), "float32")
    with pytest.raises(TypeError, match=r"`query` of dtype bfloat16 \(the model's dtype\)\. Received: dtype float32"):
        model(**inputs)


def test_unavailable_frameworks_are_reported(monkeypatch):
    # Without TF the 16-bit parity still runs torch against the reference (and says TF was skipped).
    if unavailable("torch"):
        pytest.skip(unavailable("torch"))
    monkeypatch.setattr(parity, "unavailable", lambda fw: "not here" if fw == "tf" else None)
    records, skipped = parity.check_model("luong_attention", "dot", "bfloat16")
    assert skipped == {"tf": "not here"} and {r.pair for r in records} == {"torch-reference"}
    assert all(r.ok for r in records)
