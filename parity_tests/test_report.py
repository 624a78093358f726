"""The benchmark report is built from what was measured, and two runs compare case by case."""

import json

from twinmem import cli
from twinmem.report import build_report


def _bench(device, tf_median, torch_median, gemm_median):
    def case(model, framework, mode, median, flops, family="attention"):
        info = dict(model=model, shape="B2 T4", family=family, framework=framework, impl="twin", mode=mode,
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
    assert "cpu 20.0 GFLOP/s" in report and "ratio_tf_torch.png" in report
    out = tmp_path / "cmp.md"
    assert cli.main(["report", str(a), str(b), "--out", str(out)]) == 0
    assert "| m | B2 T4 | tf | twin | eager | forward | cpu 4 | gpu 1 | 0.25 |" in out.read_text()
