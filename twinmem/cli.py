"""The `twinmem` command line: list, parity, convert, generate, train, study, report, view."""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from twinmem import convert, generate, parity, registry, study, train, view
from twinmem.files import write_text
from twinmem.report import build_report, compare


def _quiet_tf() -> None:
    # TensorFlow's C++ start-up chatter (CUDA probing, oneDNN notice) drowns the table; errors stay.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def cmd_list(args: argparse.Namespace) -> int:
    for e in registry.entries():
        print(f"{e.name:32s} {e.family:10s} {', '.join(e.variants):28s} {e.summary}")
    return 0


def check_writable(path: str, option: str) -> None:
    """Before the work starts: an output path whose directory is missing or unwritable is an error now,
    not a traceback after a long run whose results would be lost."""
    target = Path(path)
    if target.is_dir():
        raise ValueError(f"{option} {path!r} is a directory; expected a file path")
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise ValueError(f"{option} {path!r}: its directory does not exist")
    if not os.access(parent, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise ValueError(f"{option} {path!r} is not writable")


def cmd_parity(args: argparse.Namespace) -> int:
    if args.json:
        check_writable(args.json, "--json")
    names = args.model or registry.names()
    dtypes = [args.dtype] if args.dtype else ["float32", "float64"]
    console = Console(width=None if sys.stdout.isatty() else 150)
    records, skipped = [], {}
    for name in names:
        entry = registry.get(name)
        for variant in entry.variants:
            for dtype in dtypes:
                recs, skip = parity.check_model(name, variant, dtype)
                records += recs
                skipped.update(skip)
    table = Table(title="twinmem parity: max error per quantity (worst over the three pairs)")
    for col in (
        "model",
        "dtype",
        "quantity",
        "tf-torch abs",
        "tf-ref abs",
        "torch-ref abs",
        "worst rel",
        "tol",
        "ok",
    ):
        table.add_column(col, justify="right" if "abs" in col or col in ("worst rel", "tol") else "left")
    rows: dict[tuple, dict] = {}
    for r in records:
        rows.setdefault((r.model, r.dtype, r.quantity), {})[r.pair] = r
    for (model, dtype, quantity), by_pair in rows.items():
        worst = max(by_pair.values(), key=lambda r: r.max_rel)
        ok = all(r.ok for r in by_pair.values())

        def cell(pair: str, by_pair: dict = by_pair) -> str:
            return f"{by_pair[pair].max_abs:.1e}" if pair in by_pair else "skipped"

        table.add_row(
            escape(model),  # "name[variant]" would otherwise be read as rich markup and vanish
            dtype,
            escape(quantity),
            cell("tf-torch"),
            cell("tf-reference"),
            cell("torch-reference"),
            f"{worst.max_rel:.1e}",
            f"{worst.tol:.0e}",
            "ok" if ok else "[bold red]FAIL[/]",
        )
    console.print(table)
    for fw, reason in skipped.items():
        console.print(f"[yellow]skipped {fw}:[/] {reason}")
    if args.json:
        write_text(args.json, json.dumps(parity.as_json(records), indent=1))
        console.print(f"wrote {len(records)} records to {args.json}")
    failed = [r for r in records if not r.ok]
    if failed:
        console.print(f"[bold red]{len(failed)} of {len(records)} comparisons failed:[/]")
        print(parity.failure_report(records))
        return 1
    console.print(f"[green]all {len(records)} comparisons within tolerance[/]")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    if len(args.dirs) == 1:
        print(f"wrote {build_report(args.dirs[0])}")
        return 0
    if len(args.dirs) != 2:
        raise ValueError(f"Expected one results directory (rebuild) or two (compare). Received: {len(args.dirs)}")
    if args.out:
        check_writable(args.out, "--out")
    text = compare(*args.dirs)
    if args.out:
        write_text(args.out, text)
    print(text)
    return 0


def _warning_line(message: Warning | str, category: type[Warning], *args: object, **kwargs: object) -> str:
    return f"twinmem: warning: {message}\n"


def main(argv: list[str] | None = None) -> int:
    _quiet_tf()
    warnings.formatwarning = _warning_line  # one line for the user, not the source line that warned
    p = argparse.ArgumentParser(prog="twinmem", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    sub.add_parser("list", help="list every registered model").set_defaults(func=cmd_list)

    pp = sub.add_parser("parity", help="compare the TF twin, the torch twin and the NumPy reference")
    pp.add_argument("--model", action="append", help="a registry name (repeatable; default: all)")
    pp.add_argument(
        "--dtype",
        choices=list(registry.DTYPES),
        help="default: float32 and float64 (bfloat16, float16: the attention, transformer and memory models; the others are skipped)",
    )
    pp.add_argument("--json", metavar="PATH", help="write one record per (model, dtype, pair, quantity)")
    pp.set_defaults(func=cmd_parity)

    convert.add_parser(sub)
    generate.add_parser(sub)
    train.add_parser(sub)
    study.add_parser(sub)
    view.add_parser(sub)

    pr = sub.add_parser("report", help="rebuild a benchmark report (DIR) or compare two runs (A B)")
    pr.add_argument("dirs", nargs="+", metavar="DIR", help="bench-results directories")
    pr.add_argument("--out", metavar="PATH", help="with two directories: also write the comparison here")
    pr.set_defaults(func=cmd_report)

    args = p.parse_args(argv)
    try:
        return args.func(args)
    except ValueError as e:  # bad names and arguments: the message is the answer, not a traceback
        print(f"twinmem: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # a file the user named cannot be read or written: a message, not a traceback
        where = f" {e.filename!r}" if e.filename else ""
        print(f"twinmem: error:{where} {e.strerror or e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
