"""Which line of a definition computes which named quantity, found in the syntax tree.

The twins gather their intermediates in a dict named ``mids`` (``mids = {"scores": scores}``,
``mids.update({...})``, ``mids["heads"] = heads``) or return one from a cell (``return (h_t,),
{"z": z}``). For each key, the line that computes the value is the last assignment of the value's
variable before the dict, in the same function. Keys built at run time (f-strings, comprehensions over
a sub-twin's dict) become patterns (``cells\\.(.+?)\\.(.+?)``), anchored on the line that produced the
dict. Weights are declared by ``self.W_q = weight(...)``; outputs are the forward's variables of the
outputs' names; input gradients sit on the forward's ``def`` line.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

MIDS = "mids"  # the name both twins give their dict of intermediates


@dataclass(frozen=True)
class Anchor:
    pattern: str  # a regex the quantity's name (without "mid:"/"out:" ...) must match in full
    line: int  # 1-based line of the file
    kind: str  # "mid", "out", "weight", "input"
    exact: bool  # the pattern is a literal name (False: built at run time)
    suffix: bool = False  # may name a sub-twin's quantity: matches the tail of a prefixed name ("cells.0.z")

    def score(self, name: str) -> int:
        """How well this anchor places ``name``: 0 = not at all; the best-scoring anchors win."""
        if re.fullmatch(self.pattern, name):
            return 4 if self.exact else (1 if self.pattern == ".+" else 2)
        if self.suffix and re.fullmatch(r".+\." + self.pattern, name):
            return 3 if self.exact else 1
        return 0


def _key_pattern(key: ast.expr | None) -> tuple[str, bool]:
    if isinstance(key, ast.Constant) and isinstance(key.value, str):
        return re.escape(key.value), True
    if isinstance(key, ast.JoinedStr):
        parts = [
            re.escape(v.value) if isinstance(v, ast.Constant) and isinstance(v.value, str) else "(.+?)"
            for v in key.values
        ]
        return "".join(parts), False
    return ".+", False


def _targets(node: ast.AST) -> list[str]:
    """The plain names a target binds (tuples unpacked, starred included)."""
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, ast.Tuple | ast.List):
        return [n for e in node.elts for n in _targets(e)]
    if isinstance(node, ast.Starred):
        return _targets(node.value)
    return []


def _bindings(func: ast.FunctionDef) -> list[tuple[str, int]]:
    """(name, line) of every binding in a function: arguments, assignments, loop targets."""
    out = [(a.arg, func.lineno) for a in (*func.args.posonlyargs, *func.args.args, *func.args.kwonlyargs)]
    for n in ast.walk(func):
        if isinstance(n, ast.Assign):
            out += [(name, n.lineno) for t in n.targets for name in _targets(t)]
        elif isinstance(n, ast.AnnAssign | ast.AugAssign | ast.For):
            out += [(name, n.lineno) for name in _targets(n.target)]
    return out


def _last_binding(func: ast.FunctionDef, name: str, before: int) -> int | None:
    lines = [line for n, line in _bindings(func) if n == name and line <= before]
    return max(lines) if lines else None


def _blocks(func: ast.FunctionDef) -> list[range]:
    """The line ranges of the function's conditional and loop blocks (each branch on its own)."""
    out = []
    for n in ast.walk(func):
        if isinstance(n, ast.If | ast.For | ast.While | ast.Try):
            for field in ("body", "orelse", "finalbody"):
                stmts = getattr(n, field, None)
                if stmts:
                    out.append(range(stmts[0].lineno, (stmts[-1].end_lineno or stmts[-1].lineno) + 1))
    return out


def _reaching(func: ast.FunctionDef, name: str, at: int) -> list[int]:
    """The assignments of ``name`` that may give its value at line ``at``: the last one, and before it
    those in branches that do not hold ``at`` (``if cache: k = ...`` after ``k = ...``) until one that is
    unconditional with respect to ``at``."""
    blocks = _blocks(func)
    out = []
    for line in sorted({b for n, b in _bindings(func) if n == name and b < at}, reverse=True):
        out.append(line)
        if all(at in block for block in blocks if line in block):
            break
    return out


def _value_lines(func: ast.FunctionDef, value: ast.expr, at: int) -> list[int]:
    """The lines computing ``value``: its variable's reaching assignments, else where the dict is built."""
    if isinstance(value, ast.Name):
        return _reaching(func, value.id, at) or [at]
    return [at]


def _dict_anchors(func: ast.FunctionDef, d: ast.expr, at: int) -> list[Anchor]:
    if isinstance(d, ast.Dict):
        out = []
        for k, v in zip(d.keys, d.values, strict=True):
            if k is None:  # ``**expr``: a sub-dict spread in
                out += _dict_anchors(func, v, at)
                continue
            pattern, exact = _key_pattern(k)
            out += [Anchor(pattern, line, "mid", exact, suffix=True) for line in _value_lines(func, v, at)]
        return out
    if isinstance(d, ast.DictComp):
        pattern, _ = _key_pattern(d.key)
        source = d.generators[0].iter  # ``m.items()`` or ``m``: the dict the comprehension reads
        if isinstance(source, ast.Call) and isinstance(source.func, ast.Attribute):
            source = source.func.value
        if isinstance(source, ast.Dict):  # ``{n: cast(v) for n, v in {"z": z, ...}.items()}``: each entry's line
            return _dict_anchors(func, source, at)
        return [Anchor(pattern, line, "mid", False, suffix=True) for line in _value_lines(func, source, at)]
    return []


def _mids_value(target: ast.expr, value: ast.expr) -> ast.expr | None:
    """The part of ``value`` assigned to ``mids`` in ``target = value`` (tuples unpacked)."""
    if isinstance(target, ast.Name):
        return value if target.id == MIDS else None
    if isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple) and len(target.elts) == len(value.elts):
        for t, v in zip(target.elts, value.elts, strict=True):
            found = _mids_value(t, v)
            if found is not None:
                return found
    return None


def mid_anchors(func: ast.FunctionDef) -> list[Anchor]:
    out: list[Anchor] = []
    for n in ast.walk(func):
        if isinstance(n, ast.Assign):
            for t in n.targets:
                v = _mids_value(t, n.value)
                if v is not None:
                    out += _dict_anchors(func, v, n.lineno)
                if isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name) and t.value.id == MIDS:
                    pattern, exact = _key_pattern(t.slice)
                    lines = _value_lines(func, n.value, n.lineno)
                    out += [Anchor(pattern, line, "mid", exact, suffix=True) for line in lines]
        elif isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "update":
            if isinstance(n.func.value, ast.Name) and n.func.value.id == MIDS and n.args:
                out += _dict_anchors(func, n.args[0], n.lineno)
        elif isinstance(n, ast.Return) and isinstance(n.value, ast.Tuple) and n.value.elts:
            last = n.value.elts[-1]  # a cell's ``return state, {"z": z, ...}``: named under its owner's prefix
            if isinstance(last, ast.Dict) and all(isinstance(k, ast.Constant) for k in last.keys):
                out += _dict_anchors(func, last, n.lineno)
    return out


def _is_forward(func: ast.FunctionDef) -> bool:
    """The method that returns ``(outputs, mids) if return_intermediates else outputs``."""
    return any(
        isinstance(n, ast.Return)
        and isinstance(n.value, ast.IfExp)
        and isinstance(n.value.test, ast.Name)
        and n.value.test.id == "return_intermediates"
        for n in ast.walk(func)
    )


def output_anchors(func: ast.FunctionDef, outputs: tuple[str, ...]) -> list[Anchor]:
    if not _is_forward(func):
        return []
    end = func.end_lineno or func.lineno
    fallback = _last_binding(func, "outputs", end) or end
    return [
        Anchor(re.escape(name), _last_binding(func, name, end) or fallback, "out", True)
        for name in outputs
        if name not in [a.arg for a in func.args.args]
    ]


def input_anchors(func: ast.FunctionDef) -> list[Anchor]:
    if not _is_forward(func):
        return []
    return [Anchor(re.escape(a.arg), func.lineno, "input", True) for a in func.args.args if a.arg != "self"]


def weight_anchors(func: ast.FunctionDef) -> list[Anchor]:
    """``self.NAME = weight(...)``: the gradient of weight NAME (of this twin or a sub-twin) sits here."""
    out = []
    for n in ast.walk(func):
        if isinstance(n, ast.Assign) and isinstance(n.value, ast.Call) and isinstance(n.value.func, ast.Name):
            if n.value.func.id == "weight":
                for t in n.targets:
                    if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self":
                        out.append(Anchor(re.escape(t.attr), n.lineno, "weight", True, suffix=True))
    return out


def functions(node: ast.ClassDef | ast.FunctionDef) -> list[ast.FunctionDef]:
    if isinstance(node, ast.FunctionDef):
        return [node]
    return [n for n in node.body if isinstance(n, ast.FunctionDef)]


def anchors(node: ast.ClassDef | ast.FunctionDef, outputs: tuple[str, ...], main: bool) -> list[Anchor]:
    """Every anchor of one definition (a class: all its methods); outputs and inputs only in the
    model's own class and its bases (``main``), not in the sub-twins it calls."""
    out: list[Anchor] = []
    for f in functions(node):
        out += mid_anchors(f) + weight_anchors(f)
        if main:
            out += output_anchors(f, outputs) + input_anchors(f)
    return out


def bases(node: ast.ClassDef | ast.FunctionDef) -> list[str]:
    if isinstance(node, ast.FunctionDef):
        return []
    return [b.id for b in node.bases if isinstance(b, ast.Name)]
