"""Parity figures for the pages: read from ``twinmem parity --json`` or measured now.

A file is checked before anything is written: a list of records with exactly ``Record``'s fields,
of known models. A file of another twinmem version (other fields) or another shape is refused with a
``ValueError`` naming the file and what is wrong, never half-used.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from pathlib import Path

from twinmem import parity, registry
from twinmem.parity import Record

FIELDS = tuple(f.name for f in dataclasses.fields(Record))
_TYPES = {
    "max_abs": (int, float),
    "max_rel": (int, float),
    "tol": (int, float),
    "ok": (bool,),
    "error_u": (int, float, type(None)),
}


def base_model(label: str) -> str:
    """``"name[variant]"`` -> ``"name"``."""
    return label.split("[", 1)[0]


def variant_of(label: str) -> str:
    return label[label.index("[") + 1 : -1] if "[" in label else "default"


def _record(path: Path, k: int, row: object) -> Record:
    if not isinstance(row, dict):
        raise ValueError(f"--parity {str(path)!r}: record {k} is a {type(row).__name__}, expected an object")
    if set(row) != set(FIELDS):
        missing, extra = sorted(set(FIELDS) - set(row)), sorted(set(row) - set(FIELDS))
        raise ValueError(
            f"--parity {str(path)!r}: record {k} has fields missing {missing} and unknown {extra}; expected "
            f"{list(FIELDS)} (a file of another twinmem version? write it again with `twinmem parity --json`)"
        )
    for name in FIELDS:
        expected = _TYPES.get(name, (str,))
        if not isinstance(row[name], expected) or (bool not in expected and isinstance(row[name], bool)):
            raise ValueError(f"--parity {str(path)!r}: record {k} field {name!r} is {row[name]!r}, of the wrong type")
    if base_model(row["model"]) not in registry.names():
        raise ValueError(f"--parity {str(path)!r}: record {k} is of unknown model {row['model']!r}")
    if row["dtype"] not in registry.DTYPES or row["pair"] not in {f"{a}-{b}" for a, b in parity.PAIRS}:
        raise ValueError(f"--parity {str(path)!r}: record {k} has dtype {row['dtype']!r}, pair {row['pair']!r}")
    if not row["quantity"].startswith(("mid:", "out:", "grad:input:", "grad:weight:")):
        raise ValueError(f"--parity {str(path)!r}: record {k} has unknown quantity {row['quantity']!r}")
    return Record(**row)


def read_records(path: str | Path) -> list[Record]:
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"--parity {str(path)!r} is not a file")
    try:
        rows = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"--parity {str(path)!r} is not JSON: {e}") from None
    if not isinstance(rows, list):
        raise ValueError(f"--parity {str(path)!r}: expected a JSON list of records, got a {type(rows).__name__}")
    return [_record(path, k, row) for k, row in enumerate(rows)]


def measure(models: Sequence[str], dtypes: Sequence[str]) -> tuple[list[Record], dict[str, str]]:
    """Run the parity harness now: every variant of each model, in each dtype (skips with reasons)."""
    records: list[Record] = []
    skipped: dict[str, str] = {}
    for name in models:
        for variant in registry.get(name).variants:
            for dtype in dtypes:
                recs, skip = parity.check_model(name, variant, dtype)
                records += recs
                skipped.update(skip)
    return records, skipped


def by_model(records: Sequence[Record]) -> dict[str, list[Record]]:
    out: dict[str, list[Record]] = {}
    for r in records:
        out.setdefault(base_model(r.model), []).append(r)
    return out


def fmt(x: float) -> str:
    return "inf" if math.isinf(x) else ("nan" if math.isnan(x) else f"{x:.1e}")
