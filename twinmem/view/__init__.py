"""``twinmem view``: a static site that reads the twins side by side, with their measured agreement.

It reads the twins' source files as text (``ast``), never imports a framework for the pages, and runs
the parity harness only when no ``--parity`` file is given. The CLI wires it in with one call:
``view.add_parser(sub)``.
"""

from __future__ import annotations

from twinmem.view.command import ViewOptions, add_parser, cmd_view, run_view
from twinmem.view.site import MARKER, build_site, check_out_dir

__all__ = ["MARKER", "ViewOptions", "add_parser", "build_site", "check_out_dir", "cmd_view", "run_view"]
