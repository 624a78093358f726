"""The class docstring's ``.. math::`` block, rendered as MathML offline (latex2mathml).

The browser draws MathML natively (Chromium >= 109, Firefox), so nothing is fetched from a CDN.
"""

from __future__ import annotations

import html

from latex2mathml.converter import convert


def math_block(doc: str) -> str:
    """The LaTeX under ``.. math::`` (its indented lines, joined), or "" when there is none."""
    lines = doc.splitlines()
    for i, line in enumerate(lines):
        if line.strip() == ".. math::":
            indent = len(line) - len(line.lstrip())
            body = []
            for nxt in lines[i + 1 :]:
                if nxt.strip() and len(nxt) - len(nxt.lstrip()) <= indent:
                    break
                body.append(nxt.strip())
            return " ".join(b for b in body if b)
    return ""


def without_math(doc: str) -> str:
    """The docstring with its math block cut out (the block is shown as MathML above it)."""
    lines, out, skipping, indent = doc.splitlines(), [], False, 0
    for line in lines:
        if line.strip() == ".. math::":
            skipping, indent = True, len(line) - len(line.lstrip())
            continue
        if skipping and (not line.strip() or len(line) - len(line.lstrip()) > indent):
            continue
        skipping = False
        out.append(line)
    return "\n".join(out).strip()


def to_mathml(latex: str) -> str:
    """A display ``<math>`` element; LaTeX it cannot convert is shown as source, marked, never dropped."""
    if not latex:
        return ""
    try:
        return convert(latex, display="block")
    except Exception as e:  # latex2mathml raises its own exception types for unsupported commands
        return f'<pre class="latex" title="not converted: {html.escape(str(e))}">{html.escape(latex)}</pre>'
