"""A study's records gathered into curves: per mechanism and framework, the points of each figure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from twinmem.study.config import StudyConfig

Records = Mapping[str, Mapping[str, Any]]


def _of(records: Records, part: str) -> list[Mapping[str, Any]]:
    return [r for r in records.values() if r["point"]["part"] == part]


def capacity(records: Records) -> dict[str, dict[str, dict[int, list[float]]]]:
    """mechanism -> framework -> pairs -> held-out accuracy per seed."""
    out: dict[str, dict[str, dict[int, list[float]]]] = {}
    for r in _of(records, "capacity"):
        for fw, res in r["frameworks"].items():
            out.setdefault(r["point"]["mechanism"], {}).setdefault(fw, {}).setdefault(r["point"]["x"], [])
            out[r["point"]["mechanism"]][fw][r["point"]["x"]].append(float(res["measure"]))
    return out


def persistence(records: Records, config: StudyConfig) -> dict[str, dict[str, list[list[float]]]]:
    """mechanism -> framework -> per seed, accuracy by distance 1 .. load (pairs between pair and query)."""
    out: dict[str, dict[str, list[list[float]]]] = {}
    for r in _of(records, "capacity"):
        if r["point"]["x"] == config.persistence_load:
            for fw, res in r["frameworks"].items():
                out.setdefault(r["point"]["mechanism"], {}).setdefault(fw, []).append(res["by_distance"])
    return out


def length(records: Records) -> dict[str, dict[str, dict[int, float]]]:
    """mechanism (ntm, lstm) -> framework -> test length -> bit errors per sequence."""
    out: dict[str, dict[str, dict[int, float]]] = {}
    for r in _of(records, "length"):
        for fw, res in r["frameworks"].items():
            errors = {int(n): float(e) for n, e in res["bit_errors_by_length"].items()}
            out.setdefault(r["point"]["mechanism"], {})[fw] = errors
    return out


def babi_errors(records: Records) -> dict[int, dict[str, float]]:
    """bAbI task -> framework -> test error in percent."""
    out: dict[int, dict[str, float]] = {}
    for r in _of(records, "babi"):
        out[r["point"]["x"]] = {fw: 100 * (1 - float(res["measure"])) for fw, res in r["frameworks"].items()}
    return out


def looks(records: Records) -> dict[str, Mapping[str, Any]]:
    """mechanism -> the read weights of one held-out row (see run._looks)."""
    return {r["point"]["mechanism"]: r["looks"] for r in _of(records, "capacity") if "looks" in r}


def capacity_of(accuracies: Mapping[int, list[float]], threshold: float = 0.95) -> int:
    """The largest load recalled at >= threshold (mean over seeds), 0 if none: loads above a failed one do not count."""
    best = 0
    for pairs in sorted(accuracies):
        if np.mean(accuracies[pairs]) < threshold:
            break
        best = pairs
    return best


def largest_framework_difference(records: Records) -> tuple[float, str]:
    """The largest |TF - torch| over every plotted point (accuracies, accuracies by distance, bit errors)."""
    worst, where = 0.0, "no point measured in both frameworks"
    for key, r in records.items():
        res = r["frameworks"]
        if len(res) < 2:
            continue
        a, b = res["tf"], res["torch"]
        pairs = [("measure", a["measure"], b["measure"])]
        pairs += [
            (f"distance {d + 1}", x, y)
            for d, (x, y) in enumerate(zip(a.get("by_distance", []), b.get("by_distance", []), strict=True))
        ]
        errors_a, errors_b = a.get("bit_errors_by_length", {}), b.get("bit_errors_by_length", {})
        pairs += [(f"length {n}", errors_a[n], errors_b[n]) for n in errors_a]
        for what, x, y in pairs:
            if abs(x - y) > worst or where.startswith("no point"):
                worst, where = abs(x - y), f"{key}, {what}"
    return worst, where
