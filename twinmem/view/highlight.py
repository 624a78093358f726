"""Syntax colouring (pygments) per line, with the framework-specific tokens marked.

The whole definition is lexed at once, so strings and docstrings spanning lines colour correctly,
then the tokens are cut at newlines into one HTML fragment per line.
"""

from __future__ import annotations

import html

from pygments import lex
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer
from pygments.token import STANDARD_TYPES, Name, Operator, _TokenType

# A token chain starting with one of these (``tf.nn.softmax``, ``torch.where``, ``F.linear``) is the
# framework's; so are the words one framework spells differently from the other.
FRAMEWORK_ROOTS = frozenset({"tf", "torch", "keras", "F", "nn"})
FRAMEWORK_WORDS = frozenset({"call", "forward", "axis", "dim", "keepdims", "keepdim", "finfo"})


def _css_class(ttype: _TokenType) -> str:
    while ttype not in STANDARD_TYPES and ttype.parent is not None:
        ttype = ttype.parent
    return STANDARD_TYPES.get(ttype, "")


def _lines_of_tokens(text: str) -> list[list[tuple[_TokenType, str]]]:
    lines: list[list[tuple[_TokenType, str]]] = [[]]
    for ttype, value in lex(text, PythonLexer(stripnl=False)):
        parts = value.split("\n")
        for k, part in enumerate(parts):
            if k:
                lines.append([])
            if part:
                lines[-1].append((ttype, part))
    return lines


def _span(ttype: _TokenType, value: str) -> str:
    cls = _css_class(ttype)
    return f'<span class="{cls}">{html.escape(value)}</span>' if cls else html.escape(value)


def highlight_line(tokens: list[tuple[_TokenType, str]]) -> str:
    out, k = [], 0
    while k < len(tokens):
        ttype, value = tokens[k]
        if ttype in Name and value in FRAMEWORK_ROOTS:
            end = k + 1  # extend over ".name" pairs: the whole dotted chain is the framework's
            while end + 1 < len(tokens) and tokens[end] == (Operator, ".") and tokens[end + 1][0] in Name:
                end += 2
            out.append('<mark class="fw">' + "".join(_span(*t) for t in tokens[k:end]) + "</mark>")
            k = end
            continue
        piece = _span(ttype, value)
        out.append(f'<mark class="fw">{piece}</mark>' if ttype in Name and value in FRAMEWORK_WORDS else piece)
        k += 1
    return "".join(out)


def highlight(lines: list[str]) -> list[str]:
    """One HTML fragment per source line."""
    token_lines = _lines_of_tokens("\n".join(lines) + "\n")
    return [highlight_line(token_lines[i]) if i < len(token_lines) else "" for i in range(len(lines))]


def pygments_css(scope: str) -> str:
    return HtmlFormatter(style="default").get_style_defs(scope)
