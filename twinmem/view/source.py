"""The code a model runs, read from the twins' source files as text: one ``Section`` per definition.

A model's page shows its twin class and every definition of the twin package that the class reaches
(base classes, helpers such as ``scaled_dot_product``, sub-twins such as ``MultiHeadAttention`` in a
block), found by name in the syntax tree. Nothing is imported: the frameworks need not be installed.
"""

from __future__ import annotations

import ast
import importlib.util
from dataclasses import dataclass
from pathlib import Path

# Modules whose definitions are framework plumbing, not the model: never followed.
_PLUMBING = ("core",)


@dataclass(frozen=True)
class Section:
    name: str  # the class or function name, the same in both twins
    path: Path
    node: ast.ClassDef | ast.FunctionDef  # its syntax tree, line numbers of ``path``
    lines: tuple[str, ...]  # the file's lines (1-based line n is lines[n - 1])

    @property
    def first(self) -> int:
        decorators = [d.lineno for d in self.node.decorator_list]
        return min([self.node.lineno, *decorators])

    @property
    def last(self) -> int:
        return self.node.end_lineno or self.node.lineno

    @property
    def doc_lines(self) -> range:
        """The docstring's file lines (empty when there is none): the page shows it above, not twice."""
        first = self.node.body[0] if self.node.body else None
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
            return range(first.lineno, (first.end_lineno or first.lineno) + 1)
        return range(0)


def module_path(module: str) -> Path:
    """The file of a module, found without importing it (only its parent package is imported)."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise ValueError(f"Cannot find the source of module {module!r}")
    return Path(spec.origin)


def _definitions(tree: ast.Module) -> dict[str, ast.ClassDef | ast.FunctionDef]:
    return {n.name: n for n in tree.body if isinstance(n, ast.ClassDef | ast.FunctionDef)}


def _imports(tree: ast.Module, package: str) -> dict[str, str]:
    """Names imported from sibling modules of ``package`` (``from tf_impl.attention import X``): name -> module."""
    out = {}
    for n in tree.body:
        if isinstance(n, ast.ImportFrom) and n.module and n.module.startswith(package + "."):
            if n.module.rsplit(".", 1)[1] not in _PLUMBING:
                out.update({a.asname or a.name: n.module for a in n.names})
    return out


def _names_used(node: ast.AST) -> list[str]:
    seen: dict[str, None] = {}  # insertion-ordered set: sections follow the order of first use
    for n in ast.walk(node):
        if isinstance(n, ast.Name):
            seen.setdefault(n.id, None)
    return list(seen)


def reachable(module: str, name: str, package: str = "") -> list[Section]:
    """``name`` of ``module`` and every definition of its package it reaches, breadth first."""
    package = package or module.split(".", 1)[0]
    parsed: dict[str, tuple[Path, ast.Module, tuple[str, ...]]] = {}

    def load(mod: str) -> tuple[Path, ast.Module, tuple[str, ...]]:
        if mod not in parsed:
            path = module_path(mod)
            text = path.read_text()
            parsed[mod] = (path, ast.parse(text, str(path)), tuple(text.splitlines()))
        return parsed[mod]

    out: list[Section] = []
    queue, done = [(module, name)], set()
    while queue:
        mod, nm = queue.pop(0)
        if (mod, nm) in done:
            continue
        done.add((mod, nm))
        path, tree, lines = load(mod)
        defs, imported = _definitions(tree), _imports(tree, package)
        if nm not in defs:
            if not out:
                raise ValueError(f"{path}: no class or function named {nm!r}")
            continue
        out.append(Section(nm, path, defs[nm], lines))
        for used in _names_used(defs[nm]):
            if used in defs and used != nm:
                queue.append((mod, used))
            elif used in imported:
                queue.append((imported[used], used))
    return out


def docstring(section: Section) -> str:
    return ast.get_docstring(section.node) or ""
