"""Benchmark figures for the pages: rows of a ``bench-results/results.json`` (schema in ``twinmem.report``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

NEEDED = ("model", "framework", "impl", "mode", "pass", "median_s", "shape", "device")


def read_rows(directory: str | Path) -> list[dict[str, Any]]:
    path = Path(directory) / "results.json"
    if not path.is_file():
        raise ValueError(f"--bench {str(directory)!r}: no results.json in it (a `make bench` results directory?)")
    try:
        rows = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"--bench {str(path)!r} is not JSON: {e}") from None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ValueError(f"--bench {str(path)!r}: expected a JSON list of rows")
    for k, r in enumerate(rows):
        missing = [f for f in NEEDED if f not in r]
        if missing:
            raise ValueError(f"--bench {str(path)!r}: row {k} lacks {missing} (a results.json of another version?)")
        if not isinstance(r["median_s"], int | float):
            raise ValueError(f"--bench {str(path)!r}: row {k} has median_s {r['median_s']!r}, expected a number")
    return rows


def model_rows(rows: Sequence[dict[str, Any]], model: str) -> list[dict[str, Any]]:
    return sorted((r for r in rows if r["model"] == model), key=lambda r: (r["pass"], r["shape"], r["median_s"]))


def fastest(rows: Sequence[dict[str, Any]], model: str, framework: str) -> dict[str, Any] | None:
    """The twin's fastest forward in this framework (its best mode), at the model's first timed shape and
    device, so that the TF and torch figures compare the same case; None when there is none."""
    twins = [r for r in rows if r["model"] == model and r["impl"] == "twin" and r["pass"] == "forward"]
    if not twins:
        return None
    case = (twins[0]["shape"], twins[0]["device"])
    mine = [r for r in twins if r["framework"] == framework and (r["shape"], r["device"]) == case]
    return min(mine, key=lambda r: r["median_s"]) if mine else None


def describe(row: dict[str, Any] | None) -> str:
    if row is None:
        return "–"
    return f"{row['median_s'] * 1e3:.3g} ms ({row['mode']}, {row['pass']}, {row['shape']}, {row['device']})"
