"""The study's markdown summary: capacity, persistence, length generalisation, bAbI, the twins' agreement."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from twinmem.study import results
from twinmem.study.config import StudyConfig
from twinmem.study.tasks import PAPER_ERROR


def _mean_range(values: list[float], scale: float = 100.0, digits: int = 1) -> str:
    """Mean [min, max] over seeds (the value alone for one seed), times ``scale``."""
    v = [scale * x for x in values]
    if len(v) == 1:
        return f"{v[0]:.{digits}f}"
    return f"{np.mean(v):.{digits}f} [{min(v):.{digits}f}, {max(v):.{digits}f}]"


def _params(records: results.Records) -> dict[tuple[str, str], int]:
    return {(r["point"]["part"], r["point"]["mechanism"]): int(r["parameters"]) for r in records.values()}


def summary(records: results.Records, config: StudyConfig, wall_s: float | None = None) -> str:
    fws = list(config.frameworks)
    params = _params(records)
    lines = [f"# twinmem study ({config.profile} profile, id {config.study_id()})", ""]
    worst, where = results.largest_framework_difference(records)
    lines += [
        f"Both twins ({', '.join(fws)}) trained from the same canonical initial weights on the same batches at "
        f"every point. Largest |TF - torch| over every plotted point: **{worst:.4g}** ({where}).",
        "",
    ]
    diffs = results.framework_differences(records)
    if diffs:
        lines += [
            "Per part and mechanism: the largest |TF - torch| of a plotted value, and the largest drift between the "
            "two twins' loss curves (at rounding, ~1e-5, the twins trained alike and a difference is the frameworks' "
            "rounding carried through training; far above it, the two trainings parted).",
            "",
            "| part | mechanism | largest difference | where | loss drift |",
            "|---|---|---|---|---|",
        ]
        for (part, mech), d in sorted(diffs.items()):
            lines.append(f"| {part} | {mech} | {d['difference']:.4g} | {d['where']} | {d['loss_drift']:.2g} |")
        lines.append("")
    timing = results.part_seconds(records)
    if wall_s is not None:
        lines += [f"Wall time of this run: {wall_s / 60:.1f} min.", ""]
    if timing:
        shown = ", ".join(f"{part} {n} points {t / 60:.1f} min" for part, (n, t) in sorted(timing.items()))
        lines += [f"Point wall time (both twins, training and measures) per part: {shown}.", ""]
    cap = results.capacity(records)
    if cap:
        lines += [
            f"## Capacity (recall, {config.num_values} values, chance {100 / config.num_values:.1f} %, "
            f"{config.recall_steps} steps x {config.recall_batch})",
            "",
            "Held-out accuracy (%), mean [range] over seeds; capacity = the largest load recalled at >= 95 %.",
            "",
        ]
        head = "| mechanism | params | " + " | ".join(f"{n} pairs" for n in config.pairs) + " | capacity |"
        lines += [head, "|" + "---|" * (len(config.pairs) + 3)]
        for mech, cap_fw in sorted(cap.items()):
            for fw, points in cap_fw.items():
                cells = [_mean_range(points[n]) if n in points else "-" for n in config.pairs]
                capacity = results.capacity_of(points)
                shown = f"{capacity} pairs" if capacity else f"< {min(points)} pairs"
                lines.append(
                    f"| {mech} ({fw}) | {params[('capacity', mech)]:,} | " + " | ".join(cells) + f" | {shown} |"
                )
        lines.append("")
    per = results.persistence(records, config)
    if per:
        load = config.persistence_load
        lines += [
            f"## Persistence (accuracy % by distance at {load} pairs; 1 = the last pair before the query)",
            "",
            "| mechanism | seeds | " + " | ".join(str(d) for d in range(1, load + 1)) + " |",
            "|" + "---|" * (load + 2),
        ]
        for mech, per_fw in sorted(per.items()):
            for fw, seeds in per_fw.items():
                cells = [_mean_range([s[d] for s in seeds]) for d in range(load)]
                lines.append(f"| {mech} ({fw}) | {len(seeds)} | " + " | ".join(cells) + " |")
        lines.append("")
    ln = results.length(records)
    if ln:
        lines += [
            f"## Length generalisation (copy, trained on 1-{config.copy_train_len} vectors, {config.copy_steps} steps)",
            "",
            "Bit errors per sequence (6 bits a vector; a guess gets half wrong), mean [range] over seeds.",
            "",
            "| model | params | " + " | ".join(f"L = {n}" for n in config.copy_test_lens) + " |",
            "|" + "---|" * (len(config.copy_test_lens) + 2),
        ]
        for mech, length_fw in sorted(ln.items(), reverse=True):
            name = "NTM" if mech == "ntm" else "LSTM (controller only)"
            for fw, bit_errors in length_fw.items():
                cells = [_mean_range(bit_errors[n], 1.0, 2) for n in config.copy_test_lens]
                lines.append(f"| {name} ({fw}) | {params[('length', mech)]:,} | " + " | ".join(cells) + " |")
        lines.append("")
    babi = results.babi_errors(records)
    if babi:
        lines += [
            "## MemN2N on bAbI (generated stories; test error %, mean [range] over seeds)",
            "",
            "| task | ours " + " | ours ".join(f"({fw})" for fw in fws) + " | paper (1k, PE LS RN) |",
            "|" + "---|" * (len(fws) + 2),
        ]
        for task, babi_fw in sorted(babi.items()):
            row = " | ".join(_mean_range(babi_fw[fw], 1.0) for fw in fws)
            lines.append(f"| {task} | {row} | {PAPER_ERROR.get(task, float('nan')):.1f} |")
        lines.append("")
    lk: Mapping[str, Any] = results.looks(records)
    if lk:
        lines += ["## Where it looks (read-out of one held-out row: read weights, LSTM gates; max |TF - torch|)", ""]
        for mech, look in sorted(lk.items()):
            if look["max_diff_own_weights"] is None:
                lines.append(f"- {mech}: one framework only (`looks_{mech}.png`)")
                continue
            lines.append(
                f"- {mech}: {look['max_diff_same_weights']:.2e} on the same (TF-trained) weights, "
                f"{look['max_diff_own_weights']:.2e} with each twin's own (`looks_{mech}.png`)"
            )
        lines.append("")
    return "\n".join(lines)
