"""What every PyTorch twin shares: canonical weights in and out, and the embedding lookup."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from torch import nn

from twinmem import checks
from twinmem.weights import check_weights, load_weights


def embed(E, ids):
    """Rows of the embedding E (V, d) at int ids of any shape: (...) -> (..., d)."""
    # Plain indexing: its gradient w.r.t. E is dense already (TF's gather needs help, see its twin).
    return E[ids]


def check_tensors(**tensors) -> None:
    """A TypeError naming an argument that is not a tensor (torch, unlike Keras, converts no NumPy array)."""
    checks.check_tensors(torch.Tensor, "torch.Tensor", tensors)


def known_values(x) -> np.ndarray | None:
    """x's values as NumPy for the value checks of twinmem.configs; None under torch.compile, which has none."""
    return None if torch.compiler.is_compiling() else x.detach().cpu().numpy()


class Twin(nn.Module):
    """Base of the torch twins. Weight names are the attribute names, sub-twins add ``name.``."""

    def __init__(self, dtype: str = "float32"):
        super().__init__()
        # Keras' name for it: the dtype the twin computes in, which its float inputs must have.
        self.compute_dtype = dtype

    def canonical_variables(self) -> dict[str, nn.Parameter]:
        return dict(self.named_parameters())

    def load_canonical(self, weights: Mapping[str, np.ndarray] | str | Path) -> None:
        """Load canonical weights (a mapping or a safetensors path), cast to this twin's dtype."""
        if isinstance(weights, str | Path):
            weights = load_weights(weights)[0]
        variables = self.canonical_variables()
        check_weights(weights, {n: tuple(v.shape) for n, v in variables.items()}, type(self).__name__)
        checks.check_float_weights(weights)
        with torch.no_grad():
            for name, variable in variables.items():
                variable.copy_(torch.as_tensor(np.asarray(weights[name])).to(variable.dtype))

    def export_canonical(self) -> dict[str, np.ndarray]:
        return {name: v.detach().cpu().numpy().copy() for name, v in self.canonical_variables().items()}
