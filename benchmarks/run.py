"""`make bench`: run the pytest-benchmark suite, then write the report into bench-results/."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from twinmem.report import build_report

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> int:
    out = Path(os.environ.get("TWINMEM_BENCH_DIR", "bench-results"))
    out.mkdir(parents=True, exist_ok=True)
    raw = out / "benchmark.json"
    # The twin / built-in rows of an earlier run (this one writes its own, unless none of its pairs runs):
    # the report would put them beside this run's cases.
    (out / "ab.json").unlink(missing_ok=True)
    code = pytest.main(
        [
            "benchmarks/test_bench.py",
            "-p",
            "no:cacheprovider",
            "-q",
            "-rs",
            f"--benchmark-json={raw}",
            "--benchmark-columns=median,iqr,rounds",
            "--benchmark-sort=name",
            *sys.argv[1:],
        ]
    )
    if code not in (0, 5) or not raw.exists():
        return int(code)
    build_report(out)
    print(f"wrote {out}/report.md, {out}/results.json, {out}/benchmark.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
