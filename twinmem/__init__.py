"""twinmem: memory mechanisms of language models written twice (TensorFlow/Keras and PyTorch), proven equal.

What users import from the package itself (importing it loads neither TensorFlow nor torch):

* the registry of models: ``registry.get(name)``, ``registry.names()``, ``registry.entries()``, each a
  ``ModelEntry`` whose ``build(framework, config, dtype, weights)`` makes a twin;
* canonical weight I/O: ``load_weights``, ``save_weights``, ``check_weights``, ``random_weights``,
  ``config_from_metadata``;
* the converters between the canonical layout and the frameworks' built-in layers: ``interop``;
* the parity harness: ``check_model`` (records of one model, variant and dtype), ``TOLERANCES``.

The layers beneath, from the ground floor up: ``twinmem.configs`` (configs, constants, input checks),
``twinmem.layouts`` (canonical layouts and their torch / Keras names), ``twinmem.reference`` (the
NumPy float64 oracle), ``twinmem.specs`` (registry entries), then the registry, the harness and the
command line. See CONTRIBUTING.md.
"""

from __future__ import annotations

from twinmem import interop, registry
from twinmem.entry import DTYPES, FRAMEWORKS, ModelEntry
from twinmem.parity import TOLERANCES, Record, check_model
from twinmem.weights import (
    Conversion,
    check_weights,
    config_from_metadata,
    load_weights,
    random_weights,
    save_weights,
)

__all__ = [
    "DTYPES",
    "FRAMEWORKS",
    "TOLERANCES",
    "Conversion",
    "ModelEntry",
    "Record",
    "check_model",
    "check_weights",
    "config_from_metadata",
    "interop",
    "load_weights",
    "random_weights",
    "registry",
    "save_weights",
]
