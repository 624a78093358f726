"""The harness itself: it must fail when a twin is wrong, and say where the twins part."""

import json

import numpy as np
import pytest
from conftest import need

from twinmem import cli, parity


def test_a_wrong_twin_fails_and_names_the_first_divergence(monkeypatch):
    need("torch")
    import torch_impl.attention as torch_attention

    # Break the torch twin in one place: its softmax ignores the padding mask.
    monkeypatch.setattr(torch_attention, "masked_softmax", lambda scores, mask: scores.softmax(-1))
    records, _ = parity.check_model("scaled_dot_product_attention", "default", "float64")
    failed = [r for r in records if not r.ok]
    assert failed and all("torch" in r.pair for r in failed)
    assert {r.pair for r in failed} == {r.pair for r in records if "torch" in r.pair}  # tf-torch too, where TF is
    first = parity.first_divergence(records, failed[-1])
    assert first.quantity == "mid:attention_weights"  # scores agree; the weights are where they part
    report = parity.failure_report(records)
    assert "first divergence: mid:attention_weights" in report and "worst at (" in report


def test_cli_parity_json_has_every_record(tmp_path):
    need("tf")
    need("torch")
    path = tmp_path / "p.json"
    code = cli.main(["parity", "--model", "luong_attention", "--dtype", "float64", "--json", str(path)])
    records = json.loads(path.read_text())
    assert code == 0 and all(r["ok"] for r in records)
    assert {r["pair"] for r in records} == {"tf-torch", "tf-reference", "torch-reference"}
    assert {r["model"] for r in records} == {
        "luong_attention[dot]",
        "luong_attention[general]",
        "luong_attention[concat]",
    }
    assert {"out:context", "grad:input:query", "grad:input:values", "grad:weight:W_a"} <= {
        r["quantity"] for r in records
    }
    assert set(records[0]) >= {"model", "dtype", "pair", "quantity", "max_abs", "max_rel", "tol", "ok"}


def test_cli_rejects_unknown_model(capsys):
    assert cli.main(["parity", "--model", "no_such_model"]) == 2
    assert "Unknown model 'no_such_model'" in capsys.readouterr().err


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_compare_reports_worst_element(dtype):
    import numpy as np

    a = np.array([[1.0, 2.0], [3.0, 4.0]])
    b = a.copy()
    b[1, 0] += 0.5
    max_abs, max_rel, ok, where = parity.compare(a, b, parity.TOLERANCES[dtype], ("tf", "torch"))
    assert max_abs == 0.5 and max_rel == 0.5 / 4.0 and not ok
    assert where.startswith("worst at (1, 0): tf=")


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_compare_fails_on_non_finite_values_even_on_both_sides(bad):
    a = np.array([1.0, bad])
    for b in (np.array([1.0, 2.0]), a.copy()):
        max_abs, _, ok, where = parity.compare(a, b, parity.TOLERANCES["float64"], ("tf", "torch"))
        assert not ok and max_abs == np.inf and where.startswith("non-finite at (1,)")


def test_an_intermediate_on_one_side_only_fails(monkeypatch):
    need("torch")
    import torch_impl.run as torch_run

    forward_and_grads = torch_run.forward_and_grads

    def renamed(*args, **kwargs):
        outputs, mids, grads = forward_and_grads(*args, **kwargs)
        mids["weights"] = mids.pop("attention_weights")
        return outputs, mids, grads

    monkeypatch.setattr(torch_run, "forward_and_grads", renamed)
    records, _ = parity.check_model("scaled_dot_product_attention", "default", "float64")
    failed = {(r.pair, r.quantity, r.where) for r in records if not r.ok}
    assert ("torch-reference", "mid:weights", "only torch has it") in failed
    if parity.unavailable("tf") is None:
        assert ("tf-torch", "mid:attention_weights", "only tf has it") in failed
        assert ("tf-torch", "mid:weights", "only torch has it") in failed


def test_a_twin_that_drops_every_intermediate_fails(monkeypatch):
    need("tf")
    need("torch")
    import torch_impl.run as torch_run

    forward_and_grads = torch_run.forward_and_grads
    monkeypatch.setattr(
        torch_run, "forward_and_grads", lambda *a, **k: (lambda o, m, g: (o, {}, g))(*forward_and_grads(*a, **k))
    )
    records, _ = parity.check_model("scaled_dot_product_attention", "default", "float64")
    failed = {(r.pair, r.quantity) for r in records if not r.ok}
    assert ("tf-torch", "mid:attention_weights") in failed


def test_twins_that_err_apart_fail_the_same_order_check():
    u = parity.UNIT_ROUNDOFF["bfloat16"]

    def record(pair, error_u):
        rel = error_u * u
        return parity.Record("m", "bfloat16", pair, "out:y", rel, rel, parity.TOLERANCES["bfloat16"], True, "", error_u)

    # Both within the bound, one 3.5 times the other (floored at 1 u): the tf-torch record fails, and says why.
    records = [record("tf-torch", 3.0), record("tf-reference", 0.5), record("torch-reference", 3.5)]
    parity.same_order(records)
    assert not records[0].ok and "not of the same order" in records[0].where and records[1].ok and records[2].ok
    assert "= 3 u (bound 6 u)" in records[0].line()
    # Below one u rounding alone decides: 0.1 u against 0.9 u is the same order.
    records = [record("tf-torch", 0.8), record("tf-reference", 0.1), record("torch-reference", 0.9)]
    parity.same_order(records)
    assert all(r.ok for r in records)
