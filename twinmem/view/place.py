"""A model's code as paired sections, and the row of each measured quantity in them.

A quantity goes to the anchors that place it best (``Anchor.score``), on the TF side where it has
one, else on the torch side; one that no anchor places is listed as unplaced, never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

from twinmem.entry import ModelEntry
from twinmem.view.align import Row, pair_lines
from twinmem.view.anchors import Anchor, anchors, bases
from twinmem.view.figures import quantity_name
from twinmem.view.source import Section, reachable


@dataclass(frozen=True)
class Pair:
    name: str
    tf: Section | None
    torch: Section | None
    rows: tuple[Row, ...]

    def side(self, framework: str) -> Section | None:
        return self.tf if framework == "tf" else self.torch


def _lines(s: Section | None) -> list[str]:
    return [] if s is None else list(s.lines[s.first - 1 : s.last])


def pairs(entry: ModelEntry) -> list[Pair]:
    """The model's class first, then what it reaches, each paired by name between the twins."""
    tf = {s.name: s for s in reachable(f"tf_impl.{entry.family}", entry.class_name)}
    torch = {s.name: s for s in reachable(f"torch_impl.{entry.family}", entry.class_name)}
    names = list(dict.fromkeys([*tf, *torch]))
    out = []
    for n in names:
        a, b = tf.get(n), torch.get(n)
        out.append(Pair(n, a, b, tuple(pair_lines(_lines(a), _lines(b)))))
    return out


def main_names(ps: list[Pair], class_name: str) -> set[str]:
    """The model's class and its bases (transitively): where outputs and inputs are anchored."""
    by_name = {p.name: p for p in ps}
    out, todo = set(), [class_name]
    while todo:
        n = todo.pop()
        if n in out or n not in by_name:
            continue
        out.add(n)
        for s in (by_name[n].tf, by_name[n].torch):
            if s is not None:
                todo += bases(s.node)
    return out


def _row_of(p: Pair, framework: str, line: int) -> int | None:
    s = p.side(framework)
    if s is None:
        return None
    index = line - s.first
    for k, r in enumerate(p.rows):
        if (r.tf if framework == "tf" else r.torch) == index:
            return k
    return None


def placements(entry: ModelEntry, ps: list[Pair], quantities: list[str]) -> dict[str, list[tuple[int, int]]]:
    """quantity -> [(pair index, row index)]; an empty list: no anchor places it."""
    main = main_names(ps, entry.class_name)
    found: dict[str, list[tuple[int, Anchor]]] = {"tf": [], "torch": []}
    for k, p in enumerate(ps):
        for fw in found:
            s = p.side(fw)
            if s is not None:
                found[fw] += [(k, a) for a in anchors(s.node, entry.outputs, p.name in main)]
    out: dict[str, list[tuple[int, int]]] = {}
    for q in quantities:
        kind, name = quantity_name(q)
        out[q] = []
        for fw in ("tf", "torch"):
            scored = [(a.score(name), k, a) for k, a in found[fw] if a.kind == kind]
            best = max((sc for sc, _, _ in scored), default=0)
            if best:
                rows = [(k, _row_of(ps[k], fw, a.line)) for sc, k, a in scored if sc == best]
                out[q] = list(dict.fromkeys((k, r) for k, r in rows if r is not None))
                break
    return out
