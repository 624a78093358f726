"""Writing the site into a directory, safely: only a directory that is empty, new, or holds a previous
site (its marker file lists what that site wrote) is written to; a user's own files are never touched."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from twinmem import registry
from twinmem.files import write_text
from twinmem.parity import Record
from twinmem.view.index import index_page
from twinmem.view.page import model_page
from twinmem.view.records import by_model

MARKER = ".twinmem-view"  # its lines: the files the previous site wrote


def check_out_dir(out: str | Path) -> Path:
    """The output directory, or a ValueError saying why it may not be written to."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {str(out)!r} exists and is not a directory; expected a directory for the site")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise ValueError(
            f"--out {str(out)!r} holds files that are not a twinmem view site (no {MARKER} marker); "
            "refusing to overwrite them: name another directory or empty this one"
        )
    if out.is_dir() and not os.access(out, os.W_OK):
        raise ValueError(f"--out {str(out)!r} is not writable")
    return out


def _clear_previous(out: Path) -> None:
    marker = out / MARKER
    if marker.is_file():
        for name in marker.read_text().split():
            old = out / name
            if old.parent == out and old.is_file():  # only the plain files it wrote, by name
                old.unlink()


def build_site(
    out: str | Path,
    models: Sequence[str],
    records: Sequence[Record],
    skipped: Mapping[str, str] | None = None,
    bench_rows: Sequence[dict[str, Any]] | None = None,
    report_path: str | Path | None = None,
) -> list[Path]:
    """Write ``index.html`` and ``<model>.html`` per model; returns the pages written."""
    out = check_out_dir(out)
    entries = [registry.get(m) for m in models]  # unknown names fail here, before anything is written
    grouped = by_model(records)
    href = os.path.relpath(Path(report_path).resolve(), out.resolve()) if report_path else None
    pages = {f"{e.name}.html": model_page(e, grouped.get(e.name, []), skipped or {}, bench_rows, href) for e in entries}
    pages["index.html"] = index_page(entries, grouped, bench_rows, href)
    out.mkdir(parents=True, exist_ok=True)
    _clear_previous(out)
    for name, text in pages.items():
        write_text(out / name, text)
    write_text(out / MARKER, "\n".join(pages) + "\n")
    return [out / name for name in pages]
