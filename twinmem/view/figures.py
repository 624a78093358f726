"""The measured agreement of one quantity, as the small table beside its line of code.

Per variant (rows) and dtype x pair (columns): the max relative error; a failing cell is red and
carries the record's worst element (``where``) as its tooltip and, below the table, in words.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from twinmem.entry import DTYPES
from twinmem.parity import PAIRS, Record
from twinmem.view.records import fmt, variant_of

PAIR_NAMES = tuple(f"{a}-{b}" for a, b in PAIRS)
_SHORT = {"tf-torch": "tf–torch", "tf-reference": "tf–ref", "torch-reference": "torch–ref"}


def quantity_name(quantity: str) -> tuple[str, str]:
    """``"grad:weight:W_q"`` -> ("weight", "W_q"); ``"mid:scores"`` -> ("mid", "scores")."""
    kind, _, name = quantity.partition(":")
    if kind == "grad":
        kind, _, name = name.partition(":")
    return kind, name


def summary(records: Sequence[Record]) -> str:
    """The worst relative error per dtype, e.g. "f32 ≤ 2.0e-07 · f64 ≤ 3.1e-15"."""
    parts = []
    for dtype in DTYPES:
        rs = [r for r in records if r.dtype == dtype]
        if rs:
            parts.append(f"f{dtype[-2:]} ≤ {fmt(max(r.max_rel for r in rs))}")
    return " · ".join(parts) or "no figures"


def figure_block(quantity: str, records: Sequence[Record], diverges: bool) -> str:
    """One quantity's ``<details>``: open, and red, when any of its records fails."""
    ok = all(r.ok for r in records)
    dtypes = [d for d in DTYPES if any(r.dtype == d for r in records)]
    variants = list(dict.fromkeys(variant_of(r.model) for r in records))
    cells = {(variant_of(r.model), r.dtype, r.pair): r for r in records}
    head = "".join(f'<th colspan="{len(PAIR_NAMES)}">{d}</th>' for d in dtypes)
    sub = "".join(f"<th>{_SHORT[p]}</th>" for _ in dtypes for p in PAIR_NAMES)
    body = []
    for v in variants:
        tds = []
        for d in dtypes:
            for p in PAIR_NAMES:
                r = cells.get((v, d, p))
                if r is None:
                    tds.append('<td class="na" title="not measured (side skipped or not computed)">–</td>')
                    continue
                title = html.escape(f"max_abs {fmt(r.max_abs)}, tol {r.tol:.0e}; {r.where}")
                tds.append(f'<td class="{"ok" if r.ok else "fail"}" title="{title}">{fmt(r.max_rel)}</td>')
        body.append(f"<tr><th>{html.escape(v)}</th>{''.join(tds)}</tr>")
    wheres = "".join(
        f'<p class="where">{html.escape(f"{r.model} {r.dtype} {r.pair}: {r.where}")}</p>' for r in records if not r.ok
    )
    kind, name = quantity_name(quantity)
    label = {"mid": "", "out": "output ", "input": "∂/∂ input ", "weight": "∂/∂ "}[kind] + name
    cls = "q" + ("" if ok else " fail") + (" diverge" if diverges else "")
    mark = "✓" if ok else "✗"
    return (
        f'<details class="{cls}" data-q="{html.escape(quantity)}"{"" if ok else " open"}>'
        f"<summary><code>{html.escape(label)}</code> {mark} {html.escape(summary(records))}</summary>"
        f'<table class="fig"><tr><th rowspan="2">variant</th>{head}</tr><tr>{sub}</tr>{"".join(body)}</table>'
        f"{wheres}</details>"
    )
