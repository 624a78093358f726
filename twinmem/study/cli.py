"""`twinmem study`: the command line of the study (argv -> one StudyConfig, then run, plot, summarise)."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from twinmem.files import write_text
from twinmem.study import plots, store
from twinmem.study.config import StudyConfig, make_config
from twinmem.study.run import run_study
from twinmem.study.summary import summary


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "study", help="capacity, persistence, length generalisation and read weights of every memory, both twins"
    )
    p.add_argument("--quick", action="store_true", help="the profile for a 2-core CPU (<= 30 min); see docs/study.md")
    p.add_argument("--framework", choices=["tf", "torch", "both"], default="both")
    p.add_argument(
        "--mechanism",
        action="append",
        metavar="NAME",
        help="a mechanism of the capacity sweep (repeatable; default: all of the profile's)",
    )
    p.add_argument("--out", metavar="DIR", default="study-results", help="where the points, JSON, PNGs and summary go")
    p.add_argument(
        "--jobs",
        type=int,
        metavar="N",
        help="points trained at once, a process each (default: 2 with --quick, the 2-core profile; else 1)",
    )
    p.add_argument(
        "--report-only",
        action="store_true",
        help="train nothing: write the figures and summary of the points --out already has",
    )
    p.set_defaults(func=cmd_study)
    return p


def config_from(args: argparse.Namespace) -> StudyConfig:
    overrides: dict[str, Any] = {"frameworks": ("tf", "torch") if args.framework == "both" else (args.framework,)}
    if args.mechanism:
        overrides["mechanisms"] = tuple(args.mechanism)
    return make_config("quick" if args.quick else "default", **overrides)


def write_outputs(out: Path, records: dict[str, dict[str, Any]], config: StudyConfig, wall_s: float | None) -> None:
    """results.json (every point, loss curves left out), the PNGs and summary.md."""
    slim = {
        k: {
            **r,
            "frameworks": {fw: {n: v for n, v in res.items() if n != "losses"} for fw, res in r["frameworks"].items()},
        }
        for k, r in records.items()
    }
    store.write_json(out / "results.json", {"study_id": config.study_id(), "points": slim})
    plots.plot_all(out, records, config)
    text = summary(records, config, wall_s)
    write_text(out / "summary.md", text + "\n")


def cmd_study(args: argparse.Namespace) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    config = config_from(args)
    out = Path(args.out)
    console = Console()
    if args.report_only:
        store.open_study(out, config)
        found = {p.key: store.load_point(out, p, config) for p in config.points()}
        records = {k: r for k, r in found.items() if r is not None}
        write_outputs(out, records, config, None)
        console.print(f"wrote {out}/summary.md, results.json and *.png from {len(records)} of {len(found)} points")
        return 0
    start = time.perf_counter()
    jobs = args.jobs if args.jobs is not None else (2 if args.quick else 1)
    records = run_study(config, out, console, jobs)
    wall = time.perf_counter() - start
    write_outputs(out, records, config, wall)
    console.print(
        f"wrote {out}/summary.md, results.json, *.png and points/ ({len(records)} points, {wall / 60:.1f} min)"
    )
    return 0
