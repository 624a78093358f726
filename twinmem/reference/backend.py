"""The NumPy the references are written in: autograd's wrapper where installed (exact gradients),
plain NumPy otherwise (forward only; e.g. on a GPU box without autograd), so that the oracle's
forward always runs and the harness reports the missing gradients as skipped instead of crashing."""

from typing import Any

try:
    import autograd.numpy as np

    HAS_AUTOGRAD = True
except ImportError:  # pragma: no cover - exercised only where autograd is absent
    import numpy as np

    HAS_AUTOGRAD = False

Array = Any  # np.ndarray, or an autograd ArrayBox under differentiation

__all__ = ["HAS_AUTOGRAD", "Array", "np"]
