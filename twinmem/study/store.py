"""A study's output directory: a marker naming the study, one JSON file per finished point.

``study.json`` holds the study id (``StudyConfig.study_id``) and config; ``points/<key>.json`` one
point, written whole (a temporary file renamed into place) when both twins are done. A re-run
resumes from the points there; a directory that holds another study, or files that are not a
study's, is refused with a ValueError.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from twinmem.files import write_text
from twinmem.study.config import Point, StudyConfig

MARKER = "study.json"


def write_json(path: Path, data: Any) -> None:
    """Write whole or not at all (``twinmem.files.write_text``)."""
    write_text(path, json.dumps(data, indent=1, default=float))


def open_study(out: Path, config: StudyConfig) -> None:
    """Make ``out`` this study's directory, or check that it is; a ValueError if it holds anything else."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"Expected --out to be a directory. Received: {str(out)!r}, a file")
    marker = out / MARKER
    if marker.exists():
        try:
            theirs = json.loads(marker.read_text())
        except json.JSONDecodeError:
            raise ValueError(f"--out {str(out)!r}: {MARKER} is not a twinmem study marker") from None
        if theirs.get("study_id") != config.study_id():
            raise ValueError(
                f"--out {str(out)!r} holds another study (id {theirs.get('study_id')!r}, profile "
                f"{theirs.get('config', {}).get('profile')!r}); this one is {config.study_id()!r} "
                f"(profile {config.profile!r}): choose another directory or delete it"
            )
    elif out.exists() and any(out.iterdir()):
        raise ValueError(f"--out {str(out)!r} is not empty and holds no twinmem study ({MARKER} missing)")
    (out / "points").mkdir(parents=True, exist_ok=True)
    if not os.access(out, os.W_OK):
        raise ValueError(f"--out {str(out)!r} is not writable")
    if not marker.exists():
        write_json(marker, {"study_id": config.study_id(), "config": asdict(config)})


def point_path(out: Path, point: Point) -> Path:
    return out / "points" / f"{point.key}.json"


def load_point(out: Path, point: Point, config: StudyConfig) -> dict[str, Any] | None:
    """The point's record if this study finished it, else None."""
    path = point_path(out, point)
    if not path.exists():
        return None
    record: dict[str, Any] = json.loads(path.read_text())
    return record if record.get("study_id") == config.study_id() else None


def save_point(out: Path, point: Point, record: dict[str, Any]) -> None:
    write_json(point_path(out, point), record)
