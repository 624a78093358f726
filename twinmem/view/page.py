"""One model's page: the equation, the twins side by side with their figures, the reference below."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from twinmem.entry import ModelEntry
from twinmem.parity import Record, first_divergence
from twinmem.view import bench, equation
from twinmem.view.align import Row
from twinmem.view.figures import figure_block
from twinmem.view.highlight import highlight
from twinmem.view.place import Pair, pairs, placements
from twinmem.view.source import docstring, module_path, reachable
from twinmem.view.style import css


def document(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{css()}</style></head>\n<body>\n{body}\n</body></html>\n"
    )


def _divergences(records: Sequence[Record]) -> list[Record]:
    """Per failing (variant, dtype, pair): its first failing record, in computation order."""
    out: dict[tuple[str, str, str], Record] = {}
    for r in records:
        if not r.ok and (r.model, r.dtype, r.pair) not in out:
            first = first_divergence(list(records), r)
            out[(r.model, r.dtype, r.pair)] = first or r
    return list(out.values())


def _in_docstring(p: Pair, row: Row) -> bool:
    sides = [(p.tf, row.tf), (p.torch, row.torch)]
    present = [(s, i) for s, i in sides if s is not None and i is not None]
    return bool(present) and all(s.first + i in s.doc_lines for s, i in present)


def _code_table(ps: list[Pair], k: int, notes: Mapping[int, list[str]], marks: Mapping[int, str]) -> str:
    p = ps[k]
    hl = {
        fw: highlight(list(s.lines[s.first - 1 : s.last])) if s else [] for fw, s in (("tf", p.tf), ("torch", p.torch))
    }
    head = "".join(
        f"<th colspan=2>{fw}_impl/{s.path.name} · <code>{html.escape(p.name)}</code></th>"
        if s
        else f"<th colspan=2>({fw}: none)</th>"
        for fw, s in (("tf", p.tf), ("torch", p.torch))
    )
    out = [
        f'<table class="twins" id="{html.escape(p.name)}"><colgroup><col class="no"><col><col class="no"><col>'
        f'<col class="fig"></colgroup><tr>{head}<th>agreement</th></tr>'
    ]
    folded = False
    for j, row in enumerate(p.rows):
        if _in_docstring(p, row):  # one row stands for the docstring, shown whole under "docstring" above
            if not folded:
                out.append(
                    '<tr class="doc"><td></td><td class="code" colspan=3>    """…docstring…"""</td><td></td></tr>'
                )
            folded = True
            continue
        folded = False
        cells = []
        for fw, i in (("tf", row.tf), ("torch", row.torch)):
            s = p.side(fw)
            if s is None or i is None:
                cells.append(f'<td class="no"></td><td class="code {fw} absent"></td>')
            else:
                cells.append(f'<td class="no">{s.first + i}</td><td class="code {fw}">{hl[fw][i]}</td>')
        cls = " ".join(c for c in ("" if row.same else "differs", marks.get(j, "")) if c)
        figs = "".join(notes.get(j, []))
        out.append(f'<tr class="{cls}">{"".join(cells)}<td class="figs">{figs}</td></tr>')
    return "\n".join(out) + "</table>"


def _reference(entry: ModelEntry) -> str:
    module = entry.reference.__module__
    sections = reachable(module, entry.reference.__name__, package="twinmem.reference")
    path = module_path(module)
    parts = []
    for s in sections:
        lines = list(s.lines[s.first - 1 : s.last])
        rows = "".join(
            f'<tr><td class="no">{s.first + i}</td><td class="code reference">{h}</td></tr>'
            for i, h in enumerate(highlight(lines))
        )
        parts.append(
            f'<table class="twins"><colgroup><col class="no"><col></colgroup>'
            f"<tr><th colspan=2>{html.escape(str(path.relative_to(path.parents[2])))} · "
            f"<code>{html.escape(s.name)}</code></th></tr>{rows}</table>"
        )
    return (
        '<details class="reference"><summary><h2 style="display:inline">NumPy float64 reference</h2> '
        f"<code>{html.escape(module)}.{html.escape(entry.reference.__name__)}</code> (click to show)</summary>"
        + "\n".join(parts)
        + "</details>"
    )


def _bench(entry: ModelEntry, rows: Sequence[dict[str, Any]], report_href: str | None) -> str:
    mine = bench.model_rows(rows, entry.name)
    if not mine:
        return '<h2 id="bench">Benchmarks</h2><p class="note">no rows for this model in the results given.</p>'
    body = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(str(r[c]))}</td>" for c in ("pass", "shape", "device", "framework", "impl", "mode")
        )
        + f"<td>{r['median_s'] * 1e3:.4g}</td></tr>"
        for r in mine
    )
    link = f' — <a href="{html.escape(report_href)}">the bench report</a>' if report_href else ""
    return (
        f'<h2 id="bench">Benchmarks{link}</h2><table class="index"><tr><th>pass</th><th>shape</th><th>device</th>'
        f"<th>framework</th><th>impl</th><th>mode</th><th>median ms</th></tr>{body}</table>"
    )


def model_page(
    entry: ModelEntry,
    records: Sequence[Record],
    skipped: Mapping[str, str],
    bench_rows: Sequence[dict[str, Any]] | None = None,
    report_href: str | None = None,
) -> str:
    ps = pairs(entry)
    quantities = list(dict.fromkeys(r.quantity for r in records))
    where = placements(entry, ps, quantities)
    diverging = _divergences(records)
    first_q = {r.quantity for r in diverging}
    notes: dict[int, dict[int, list[str]]] = {}
    flags: dict[int, dict[int, set[str]]] = {}  # row classes: placed, failing, diverge
    for q in quantities:
        recs = [r for r in records if r.quantity == q]
        row_flags = {"placed"} | ({"failing"} if not all(r.ok for r in recs) else set())
        row_flags |= {"diverge"} if q in first_q else set()
        for k, j in where[q]:
            notes.setdefault(k, {}).setdefault(j, []).append(figure_block(q, recs, q in first_q))
            flags.setdefault(k, {}).setdefault(j, set()).update(row_flags)
    marks = {k: {j: " ".join(sorted(f)) for j, f in rows.items()} for k, rows in flags.items()}
    unplaced = [q for q in quantities if not where[q]]
    main = ps[0].tf or ps[0].torch
    assert main is not None  # pairs() always finds the class on at least one side
    doc = docstring(main)
    n_fail = sum(not r.ok for r in records)
    status = (
        '<span class="status note">no parity figures</span>'
        if not records
        else f'<span class="status {"fail" if n_fail else "ok"}">'
        + (
            f"{n_fail} of {len(records)} comparisons fail"
            if n_fail
            else f"all {len(records)} comparisons within tolerance"
        )
        + "</span>"
    )
    parts = [
        '<p><a href="index.html">← all models</a></p>',
        f"<h1>{html.escape(entry.name)}</h1><p>{html.escape(entry.summary)}</p>",
        f"<p><code>tf_impl/{entry.family}.py::{entry.class_name}</code> · "
        f"<code>torch_impl/{entry.family}.py::{entry.class_name}</code> · parity: {status}"
        + (' · <a href="#bench">benchmarks</a>' if bench_rows is not None else "")
        + "</p>",
        f'<div class="equation">{equation.to_mathml(equation.math_block(doc))}</div>',
        f"<details><summary>docstring</summary><pre>{html.escape(equation.without_math(doc))}</pre></details>",
    ]
    parts += [f'<p class="note">skipped {html.escape(fw)}: {html.escape(why)}</p>' for fw, why in skipped.items()]
    if diverging:
        items = "".join(
            f"<li><b>{html.escape(r.model)} {r.dtype} {r.pair}</b>: first divergence at "
            f"<code>{html.escape(r.quantity)}</code> — {html.escape(r.where)}</li>"
            for r in diverging
        )
        parts.append(f'<div class="banner"><b>Failing pairs</b><ul>{items}</ul></div>')
    parts.append(
        '<p class="note">Rows pair the twins\' lines (aligned on a normalised form); '
        '<mark class="fw">marked</mark> tokens are framework-specific; figures: max relative error '
        "per variant, dtype and pair (hover for the worst element).</p>"
    )
    for k in range(len(ps)):
        parts.append(f"<h2>{html.escape(ps[k].name)}</h2>" + _code_table(ps, k, notes.get(k, {}), marks.get(k, {})))
    if unplaced:
        blocks = "".join(figure_block(q, [r for r in records if r.quantity == q], q in first_q) for q in unplaced)
        parts.append(f'<h2>Figures of no line found in the code</h2><div class="unplaced">{blocks}</div>')
    parts.append(_reference(entry))
    if bench_rows is not None:
        parts.append(_bench(entry, bench_rows, report_href))
    return document(f"twinmem · {entry.name}", "\n".join(parts))
