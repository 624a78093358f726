"""``twinmem view``: the command line's edge. argv becomes one frozen ``ViewOptions``; everything is
checked (models, output directory, parity file, bench directory) before the parity run starts."""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twinmem import registry
from twinmem.view.bench import read_rows
from twinmem.view.records import measure, read_records
from twinmem.view.site import build_site, check_out_dir


@dataclass(frozen=True)
class ViewOptions:
    models: tuple[str, ...]  # empty: every registry model
    out: str
    parity: str | None  # a `twinmem parity --json` file; None: measure now
    bench: str | None  # a bench results directory (results.json, report.md)
    dtypes: tuple[str, ...]


def add_parser(subparsers: Any) -> None:
    """Register ``view`` on the CLI's subparsers (``sub`` in ``twinmem.cli.main``)."""
    p = subparsers.add_parser("view", help="write a static site: the twins side by side with their parity figures")
    p.add_argument("models", nargs="*", metavar="MODEL", help="registry names (default: all)")
    p.add_argument("--out", default="view", metavar="DIR", help="the site's directory (default: view/)")
    p.add_argument("--parity", metavar="FILE.json", help="figures of `twinmem parity --json` (default: measure now)")
    p.add_argument("--bench", metavar="DIR", help="a bench results directory: fastest figures and links")
    p.add_argument("--dtype", choices=list(registry.DTYPES), help="when measuring: one dtype (default: both)")
    p.set_defaults(func=cmd_view)


def options(args: argparse.Namespace) -> ViewOptions:
    return ViewOptions(
        models=tuple(args.models),
        out=args.out,
        parity=args.parity,
        bench=args.bench,
        dtypes=(args.dtype,) if args.dtype else tuple(registry.DTYPES),
    )


def run_view(o: ViewOptions) -> Path:
    """Build the site; returns its index page."""
    start = time.perf_counter()
    models = list(o.models) or registry.names()
    for m in models:
        registry.get(m)  # an unknown name is a ValueError naming it, before any work
    check_out_dir(o.out)
    bench_rows = read_rows(o.bench) if o.bench else None
    skipped: dict[str, str] = {}
    if o.parity:
        records = read_records(o.parity)
    else:
        records, skipped = measure(models, o.dtypes)
    report = Path(o.bench) / "report.md" if o.bench and (Path(o.bench) / "report.md").is_file() else None
    pages = build_site(o.out, models, records, skipped, bench_rows, report)
    print(f"wrote {len(pages)} pages to {o.out}/ in {time.perf_counter() - start:.1f} s")
    return pages[-1]


def cmd_view(args: argparse.Namespace) -> int:
    index = run_view(options(args))
    print(f"open {index.resolve().as_uri()}")
    return 0
