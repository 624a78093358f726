"""Pairing the two twins' lines, computed from the code (never kept by hand).

Each line is normalised so that what only the framework changes compares equal (``tf.``/``torch.``,
``call``/``forward``, ``axis``/``dim`` ...), then difflib aligns the normalised lines. A block that
differs on both sides is paired line by line in order, as ``diff -y`` does.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

# (pattern, replacement) applied in order; the framework's spelling of the same thing becomes one word.
_UNIFY = [
    (re.compile(r"\b(?:tf|torch|keras|F|nn)(?:\.(?:nn|ops|math|linalg|layers|functional))*\."), ""),
    (re.compile(r"\bcall\b"), "forward"),
    (re.compile(r"\baxis\b"), "dim"),
    (re.compile(r"\bkeepdims\b"), "keepdim"),
    (re.compile(r"\breduce_(sum|mean|max|min|any|all)\b"), r"\1"),
    (re.compile(r"\bconcat\b"), "cat"),
    (re.compile(r"\s+"), " "),
]


def normalise(line: str) -> str:
    out = line.strip()
    for pattern, repl in _UNIFY:
        out = pattern.sub(repl, out)
    return out


@dataclass(frozen=True)
class Row:
    tf: int | None  # 0-based index into the TF lines, None = nothing on this side
    torch: int | None
    same: bool  # equal after normalisation


def pair_lines(tf_lines: list[str], torch_lines: list[str]) -> list[Row]:
    """Every line of both sides once, in order, paired where they correspond."""
    a, b = [normalise(s) for s in tf_lines], [normalise(s) for s in torch_lines]
    rows: list[Row] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            rows += [Row(i, j, True) for i, j in zip(range(i1, i2), range(j1, j2), strict=True)]
            continue
        n = max(i2 - i1, j2 - j1)
        for k in range(n):
            i = i1 + k if i1 + k < i2 else None
            j = j1 + k if j1 + k < j2 else None
            rows.append(Row(i, j, False))
    return rows
