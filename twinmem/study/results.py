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


def _by_seed(records: Records, part: str) -> list[Mapping[str, Any]]:
    return sorted(_of(records, part), key=lambda r: (r["point"]["mechanism"], r["point"]["x"], r["point"]["seed"]))


def length(records: Records) -> dict[str, dict[str, dict[int, list[float]]]]:
    """mechanism (ntm, lstm) -> framework -> test length -> bit errors per sequence, per seed."""
    out: dict[str, dict[str, dict[int, list[float]]]] = {}
    for r in _by_seed(records, "length"):
        for fw, res in r["frameworks"].items():
            per_length = out.setdefault(r["point"]["mechanism"], {}).setdefault(fw, {})
            for n, e in res["bit_errors_by_length"].items():
                per_length.setdefault(int(n), []).append(float(e))
    return out


def babi_errors(records: Records) -> dict[int, dict[str, list[float]]]:
    """bAbI task -> framework -> test error in percent, per seed."""
    out: dict[int, dict[str, list[float]]] = {}
    for r in _by_seed(records, "babi"):
        for fw, res in r["frameworks"].items():
            out.setdefault(r["point"]["x"], {}).setdefault(fw, []).append(100 * (1 - float(res["measure"])))
    return out


def part_seconds(records: Records) -> dict[str, tuple[int, float]]:
    """part -> (points, wall seconds of those points: training, held-out rows and measures, both twins)."""
    out: dict[str, tuple[int, float]] = {}
    for r in records.values():
        wall = r.get("point_wall_s", sum(float(res["wall_s"]) for res in r["frameworks"].values()))
        part = r["point"]["part"]
        n, total = out.get(part, (0, 0.0))
        out[part] = (n + 1, total + float(wall))
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


def _point_difference(key: str, r: Mapping[str, Any]) -> tuple[float, str] | None:
    """The largest |TF - torch| of one point's plotted values, and where; None unless both twins ran."""
    res = r["frameworks"]
    if len(res) < 2:
        return None
    a, b = res["tf"], res["torch"]
    pairs = [("measure", a["measure"], b["measure"])]
    pairs += [
        (f"distance {d + 1}", x, y)
        for d, (x, y) in enumerate(zip(a.get("by_distance", []), b.get("by_distance", []), strict=True))
    ]
    errors_a, errors_b = a.get("bit_errors_by_length", {}), b.get("bit_errors_by_length", {})
    pairs += [(f"length {n}", errors_a[n], errors_b[n]) for n in errors_a]
    worst = max(pairs, key=lambda p: abs(p[1] - p[2]))
    return abs(worst[1] - worst[2]), f"{key}, {worst[0]}"


def largest_framework_difference(records: Records) -> tuple[float, str]:
    """The largest |TF - torch| over every plotted point (accuracies, accuracies by distance, bit errors)."""
    worst, where = 0.0, "no point measured in both frameworks"
    for key, r in records.items():
        found = _point_difference(key, r)
        if found is not None and (found[0] > worst or where.startswith("no point")):
            worst, where = found
    return worst, where


def framework_differences(records: Records) -> dict[tuple[str, str], dict[str, Any]]:
    """(part, mechanism) -> the largest |TF - torch| of its plotted values (and where), and the largest
    drift between the two twins' loss curves: a measure apart while the losses agree to rounding is
    the frameworks; with the losses apart, it is two trainings that parted."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for key, r in sorted(records.items()):
        found = _point_difference(key, r)
        if found is None:
            continue
        entry = out.setdefault(
            (r["point"]["part"], r["point"]["mechanism"]), {"difference": -1.0, "where": "", "loss_drift": 0.0}
        )
        if found[0] > entry["difference"]:
            entry["difference"], entry["where"] = found
        entry["loss_drift"] = max(entry["loss_drift"], float(r.get("loss_drift", 0.0)))
    return out
