"""The benchmark report is built from what was measured, and two runs compare case by case."""

import json

import pytest

from twinmem import cli
from twinmem.report import build_report


def _bench(device, tf_median, torch_median, gemm_median, extra=()):
    def case(model, framework, mode, median, flops, family="attention", impl="twin", shape="B2 T4"):
        info = dict(model=model, shape=shape, family=family, framework=framework, impl=impl, mode=mode,
                    pass_="forward", device=device, threads=2, batch=2, seq_len=4, tokens=8, flops=flops,
                    compile_s=0.5, peak_memory_bytes=None)  # fmt: skip
        return {"extra_info": info, "stats": {"median": median, "iqr": median / 10, "rounds": 5}}

    return {
        "machine_info": {"cpu": {"brand_raw": "test cpu", "count": 2}},
        "datetime": "now",
        "twinmem_versions": {"torch": "x"},
        "twinmem_settings": {"threads": 2, "tf32": False, "cudnn_benchmark": False},
        "benchmarks": [
            case("gemm", "tf", "eager", gemm_median, 2e9, "gemm"),
            case("m", "tf", "eager", tf_median, 1e6),
            case("m", "torch", "eager", torch_median, 1e6),
            *(case(*args, **kwargs) for args, kwargs in extra),
        ],
    }


def test_report_and_compare(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for d, dev, tf_m, torch_m in ((a, "cpu", 0.004, 0.002), (b, "gpu", 0.001, 0.002)):
        d.mkdir()
        (d / "benchmark.json").write_text(json.dumps(_bench(dev, tf_m, torch_m, 0.1)))
        build_report(d)
    rows = json.loads((a / "results.json").read_text())
    tf_row = next(r for r in rows if r["model"] == "m" and r["framework"] == "tf")
    assert tf_row["seq_per_s"] == 2 / 0.004 and tf_row["tokens_per_s"] == 8 / 0.004
    assert abs(tf_row["efficiency"] - (1e6 / 0.004) / (2e9 / 0.1)) < 1e-12
    report = (a / "report.md").read_text()
    assert "| m | B2 T4 | cpu | forward | 2.00 |" in report  # TF/torch = 0.004 / 0.002
    assert "cpu float32 20.0 GFLOP/s" in report and "ratio_tf_torch.png" in report
    assert "under-measured" not in report and "⚠" not in report
    out = tmp_path / "cmp.md"
    assert cli.main(["report", str(a), str(b), "--out", str(out)]) == 0
    assert "| m | B2 T4 | tf | twin | eager | forward | cpu 4 | gpu 1 | 0.25 |" in out.read_text()


def test_a_case_above_the_ceiling_marks_the_ceiling_under_measured(tmp_path):
    # GEMM: 2 GFLOP in 0.1 s = 20 GFLOP/s. A case of 1 GFLOP in 0.04 s = 25 GFLOP/s, 125 % of it:
    # impossible, so the report must say the ceiling is wrong instead of printing 125 % quietly.
    fast = (("fast", "torch", "eager", 0.04, 1e9), {})
    (tmp_path / "benchmark.json").write_text(json.dumps(_bench("cpu", 0.004, 0.002, 0.1, [fast])))
    report = build_report(tmp_path).read_text()
    assert "The GEMM ceiling is under-measured: 1 case(s) ran faster than it" in report
    assert "fast B2 T4 torch twin eager forward at 125.0 %" in report
    assert "| 125.0 % ⚠ |" in report


def test_the_ceiling_is_the_fastest_gemm_and_its_drift_is_reported(tmp_path):
    # Two more GEMM rows: TF graph at the start (2 GFLOP / 0.05 s = 40 GFLOP/s) and at the end (0.08 s,
    # 25 GFLOP/s): the ceiling is 40 (start), the drift -37.5 %, and the case's efficiency uses 40.
    gemm = {"family": "gemm", "impl": "matmul"}
    start = (("gemm", "tf", "graph", 0.05, 2e9), {**gemm, "shape": "8x8x8 float32 start"})
    end = (("gemm", "tf", "graph", 0.08, 2e9), {**gemm, "shape": "8x8x8 float32 end"})
    (tmp_path / "benchmark.json").write_text(json.dumps(_bench("cpu", 0.004, 0.002, 0.1, [start, end])))
    report = build_report(tmp_path).read_text()
    rows = json.loads((tmp_path / "results.json").read_text())
    tf_row = next(r for r in rows if r["model"] == "m" and r["framework"] == "tf")
    assert abs(tf_row["efficiency"] - (1e6 / 0.004) / 40e9) < 1e-12
    assert "cpu float32 40.0 GFLOP/s (tf graph, 8x8x8 float32 start)" in report
    assert "cpu float32 tf -37.5 %" in report


def test_twin_over_builtin_takes_the_fastest_path_and_mode_of_each(tmp_path):
    # The twin: fused 3 ms, explicit 5 ms; the built-in: eager 2 ms, timed under the first path's
    # label only. twin / built-in = 3 / 2 = 1.50, the twin's best being its fused path.
    extra = [
        (("lstm", "torch", "eager", 0.005, 1e6), {"shape": "explicit H8", "family": "rnn"}),
        (("lstm", "torch", "eager", 0.003, 1e6), {"shape": "fused H8", "family": "rnn"}),
        (("lstm", "torch", "eager", 0.002, 1e6), {"shape": "explicit H8", "family": "rnn", "impl": "nn.LSTM"}),
    ]
    (tmp_path / "benchmark.json").write_text(json.dumps(_bench("cpu", 0.004, 0.002, 0.1, extra)))
    report = build_report(tmp_path).read_text()
    assert "| torch | lstm | H8 | cpu | forward | fused eager | nn.LSTM eager | 1.50 |" in report


def test_a_bfloat16_case_is_its_own_row_against_the_bfloat16_ceiling(tmp_path):
    # GEMMs: float32 20 GFLOP/s (from _bench), bfloat16 2 GFLOP / 0.05 s = 40 GFLOP/s. The bf16 twin row
    # (1 GFLOP in 0.05 s = 20 GFLOP/s) is 50 % of the bf16 ceiling, not 100 % of the float32 one, and
    # stays out of the float32 rows' tables.
    gemm16 = (("gemm", "tf", "graph", 0.05, 2e9), {"family": "gemm", "impl": "matmul", "shape": "8x8x8 bfloat16 start"})
    twin16 = (("m", "torch", "eager", 0.05, 1e9), {})
    raw = _bench("cpu", 0.004, 0.002, 0.1, [gemm16, twin16])
    raw["benchmarks"][3]["extra_info"]["dtype"] = "bfloat16"
    raw["benchmarks"][4]["extra_info"]["dtype"] = "bfloat16"
    (tmp_path / "benchmark.json").write_text(json.dumps(raw))
    report = build_report(tmp_path).read_text()
    rows = json.loads((tmp_path / "results.json").read_text())
    row16 = next(r for r in rows if r["dtype"] == "bfloat16" and r["model"] == "m")
    assert row16["shape"] == "B2 T4 bfloat16" and abs(row16["efficiency"] - 0.5) < 1e-12
    assert "cpu bfloat16 40.0 GFLOP/s" in report and "under-measured" not in report


def test_a_slow_bfloat16_gemm_leaves_bfloat16_cases_against_the_float32_ceiling(tmp_path):
    # A CPU without bfloat16 units: its bf16 GEMM 2 GFLOP / 0.2 s = 10 GFLOP/s, below float32's 20 (from
    # _bench). A bf16 case at 1 GFLOP / 0.08 s = 12.5 GFLOP/s beats its own dtype's GEMM but not the float32
    # one, which can multiply bf16 numbers exactly: it reads 62.5 % of 20, with no under-measured line.
    gemm16 = (("gemm", "tf", "graph", 0.2, 2e9), {"family": "gemm", "impl": "matmul", "shape": "8x8x8 bfloat16 start"})
    twin16 = (("m", "torch", "eager", 0.08, 1e9), {})
    raw = _bench("cpu", 0.004, 0.002, 0.1, [gemm16, twin16])
    raw["benchmarks"][3]["extra_info"]["dtype"] = "bfloat16"
    raw["benchmarks"][4]["extra_info"]["dtype"] = "bfloat16"
    (tmp_path / "benchmark.json").write_text(json.dumps(raw))
    report = build_report(tmp_path).read_text()
    rows = json.loads((tmp_path / "results.json").read_text())
    row16 = next(r for r in rows if r["dtype"] == "bfloat16" and r["model"] == "m")
    assert abs(row16["efficiency"] - 0.625) < 1e-12
    assert "under-measured" not in report and "⚠" not in report
    assert "cpu bfloat16 20.0 GFLOP/s (tf eager, B2 T4)" in report  # the float32 GEMM row of _bench
    assert "**cpu bfloat16: its own GEMM (10.0 GFLOP/s) is slower than the float32 one (20.0)**" in report
    assert "| **ceiling** of float32, bfloat16 |" in report


def test_the_interleaved_table_comes_from_ab_json(tmp_path):
    (tmp_path / "benchmark.json").write_text(json.dumps(_bench("cpu", 0.004, 0.002, 0.1)))
    ab = [{"framework": "torch", "model": "lstm", "shape": "H8", "pass": "train", "twin": "fused eager",
           "builtin": "nn.LSTM eager", "twin_s": 0.0101, "builtin_s": 0.01, "ratio": 1.01, "ratio_iqr": 0.1,
           "rounds": 15}]  # fmt: skip
    (tmp_path / "ab.json").write_text(json.dumps(ab))
    report = build_report(tmp_path).read_text()
    # A file of `make bench-ab` before rows had a device and a source: the CPU, and that command.
    assert "| torch | lstm | H8 | cpu | train | fused eager | nn.LSTM eager | 1.01 ± 0.10 | 15 |" in report
    assert (
        "Timed interleaved (`make bench-ab`)" in report
        and "Above 1.10 (the goal for a twin's fastest path): none, of 1 pairs." in report
    )
    assert "one case after the other" not in report  # the sequential table only where no pair ran interleaved
    slow = {
        **ab[0],
        "shape": "H8 latency B1",
        "pass": "forward",
        "twin_s": 0.0006,
        "ratio": 1.2,
        "source": "make bench",
    }
    (tmp_path / "ab.json").write_text(json.dumps([{**ab[0], "source": "make bench"}, slow]))
    report = build_report(tmp_path).read_text()
    assert "Timed interleaved (`make bench`)" in report
    assert (
        "Above 1.10 (the goal for a twin's fastest path): torch lstm H8 latency B1 forward **1.20**, of 2 pairs."
        in report
    )
    assert "At batch 1 (`latency B1`) a call takes 0.6 ms" in report
    # Without ab.json: the pairs as the cases timed them, one after the other, said to be worth less.
    (tmp_path / "ab.json").unlink()
    pair = (((m, "torch", "eager", t, 1e6), {"family": "rnn", "impl": i, "shape": "fused H8"})
            for m, t, i in (("lstm", 0.0101, "twin"), ("lstm", 0.01, "nn.LSTM")))  # fmt: skip
    (tmp_path / "benchmark.json").write_text(json.dumps(_bench("cpu", 0.004, 0.002, 0.1, pair)))
    report = build_report(tmp_path).read_text()
    assert "| torch | lstm | H8 | cpu | forward | fused eager | nn.LSTM eager | 1.01 |" in report
    assert "one case after the other" in report and "Timed interleaved" not in report
    (tmp_path / "ab.json").write_text("{}")
    with pytest.raises(ValueError, match="ab.json"):
        build_report(tmp_path)
