"""``python -m twinmem.study``: the study command on its own (``twinmem study`` once the CLI registers it)."""

from __future__ import annotations

import argparse
import sys

from twinmem.study.cli import add_parser


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m twinmem.study")
    sub = parser.add_subparsers(dest="command")
    add_parser(sub)
    args = parser.parse_args(["study", *(sys.argv[1:] if argv is None else argv)])
    try:
        return int(args.func(args))
    except ValueError as e:  # bad names and arguments: the message is the answer, not a traceback
        print(f"twinmem: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
