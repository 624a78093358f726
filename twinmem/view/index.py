"""The site's front page: every model, its twins, its parity status and its fastest figures."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from twinmem.entry import ModelEntry
from twinmem.parity import Record
from twinmem.view import bench
from twinmem.view.page import document


def _status(records: Sequence[Record] | None) -> str:
    if not records:
        return '<span class="note">no figures</span>'
    failed = sum(not r.ok for r in records)
    if failed:
        return f'<span class="status fail">{failed} of {len(records)} fail</span>'
    return f'<span class="status ok">all {len(records)} ok</span>'


def index_page(
    entries: Sequence[ModelEntry],
    records: Mapping[str, Sequence[Record]],
    bench_rows: Sequence[dict[str, Any]] | None,
    report_href: str | None,
) -> str:
    head = ["model", "summary", "TF twin", "torch twin", "parity"]
    if bench_rows is not None:
        head += ["fastest TF forward", "fastest torch forward"]
    rows = []
    for e in entries:
        cells = [
            f'<a href="{html.escape(e.name)}.html">{html.escape(e.name)}</a>',
            html.escape(e.summary),
            f"<code>tf_impl/{e.family}.py::{e.class_name}</code>",
            f"<code>torch_impl/{e.family}.py::{e.class_name}</code>",
            _status(records.get(e.name)),
        ]
        if bench_rows is not None:
            cells += [html.escape(bench.describe(bench.fastest(bench_rows, e.name, fw))) for fw in ("tf", "torch")]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    link = f'<p>Benchmarks: <a href="{html.escape(report_href)}">the bench report</a></p>' if report_href else ""
    body = (
        "<h1>twinmem: the twins side by side</h1>"
        "<p>Each page pairs the TensorFlow and the PyTorch twin line by line, with the equation of the "
        "docstring and the measured agreement of every intermediate, output and gradient.</p>"
        f'{link}<table class="index"><tr>{"".join(f"<th>{h}</th>" for h in head)}</tr>{"".join(rows)}</table>'
    )
    return document("twinmem · the twins side by side", body)
