"""Every model twinmem knows, by name.

The entries live in ``twinmem/specs/<family>.py`` (a ``ModelEntry`` each, ``twinmem.entry``); this
module gathers them, in family order. Adding a model = one ``ModelEntry`` in its family's spec
module (listed in its ``ENTRIES``), two twin classes and one reference function; parity tests and
benchmarks pick it up with no new test code.
"""

from __future__ import annotations

from twinmem.entry import DTYPES, FRAMEWORKS, ModelEntry
from twinmem.specs import attention, memory, rnn, transformer

__all__ = ["DTYPES", "FRAMEWORKS", "ModelEntry", "entries", "get", "names"]

_REGISTRY: dict[str, ModelEntry] = {}
for _entry in (*attention.ENTRIES, *memory.ENTRIES, *rnn.ENTRIES, *transformer.ENTRIES):
    if _entry.name in _REGISTRY:
        raise ValueError(f"Model {_entry.name!r} is registered twice")
    _REGISTRY[_entry.name] = _entry


def names() -> list[str]:
    """The registered model names, in family order."""
    return list(_REGISTRY)


def get(name: str) -> ModelEntry:
    """The entry of model ``name``; a ValueError listing the registered names if there is none."""
    if name not in _REGISTRY:
        raise ValueError(f"Unknown model {name!r}; registered models: {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def entries() -> list[ModelEntry]:
    """Every entry, in family order."""
    return list(_REGISTRY.values())
