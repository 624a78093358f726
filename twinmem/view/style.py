"""The site's one stylesheet, inlined into every page (a page is a single self-contained file)."""

from __future__ import annotations

from twinmem.view.highlight import pygments_css

_CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 0 1.2em 2em; color: #1b1b1b; }
h1 { font-size: 1.5em; margin: .6em 0 .2em; } h2 { font-size: 1.15em; margin: 1.2em 0 .3em; }
a { color: #0645ad; } code, pre { font-family: ui-monospace, "DejaVu Sans Mono", monospace; }
.status.ok { color: #11643a; } .status.fail, .fail { color: #b00020; }
table.index { border-collapse: collapse; } table.index td, table.index th { border-bottom: 1px solid #ddd;
  padding: .25em .6em; text-align: left; vertical-align: top; }
.equation { background: #f7f7fb; border: 1px solid #e2e2ee; padding: .4em 1em; overflow-x: auto; }
.equation math { font-size: 1.2em; }
table.twins { border-collapse: collapse; table-layout: fixed; width: 100%; font-size: 12px; }
table.twins col.no { width: 3.2em; } table.twins col.fig { width: 22em; }
table.twins th { position: sticky; top: 0; background: #eef; z-index: 1; text-align: left; padding: .2em .4em; }
table.twins td { vertical-align: top; padding: 0 .4em; }
td.code { font-family: "DejaVu Sans Mono", monospace; font-variant-ligatures: none; white-space: pre-wrap;
  overflow-wrap: anywhere; border-left: 1px solid #e4e4e4; }
td.no { color: #999; text-align: right; font-family: monospace; user-select: none; }
tr.differs td.code { background: #fffbea; } td.code.absent { background: #f3f3f3; }
tr.placed td.code { background: #eef8f0; } tr.placed.failing td.code { background: #fde7ea; }
tr.diverge td.code { background: #f9c8cf; outline: 2px solid #b00020; }
mark.fw { background: #e3ecff; border-radius: 3px; padding: 0 1px; }
td.figs details.q { margin: 1px 0; } td.figs summary { cursor: pointer; white-space: nowrap;
  overflow: hidden; text-overflow: ellipsis; }
details.q.fail > summary { color: #b00020; font-weight: bold; }
table.fig { border-collapse: collapse; margin: .2em 0 .4em; } table.fig td, table.fig th {
  border: 1px solid #ddd; padding: 0 .3em; font-size: 11px; text-align: right; }
table.fig td.ok { color: #11643a; } table.fig td.fail { background: #fde7ea; font-weight: bold; }
p.where { color: #b00020; margin: .1em 0; font-size: 11px; overflow-wrap: anywhere; }
.banner { border: 2px solid #b00020; background: #fde7ea; padding: .4em .8em; margin: .6em 0; }
.note { color: #555; }
"""


def css() -> str:
    return _CSS + pygments_css("td.code")
