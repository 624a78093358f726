"""What every PyTorch twin shares: the initializer rule, canonical weights in and out, the embedding lookup."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from twinmem import checks
from twinmem.weights import INITIALIZERS, check_finite, check_saved_config, check_weights, kernel_std, load_weights


def weight(shape: tuple[int, ...], dtype: str, init: str = "kernel") -> nn.Parameter:
    """A new weight by twinmem's one rule (``twinmem.weights.kernel_std``): "kernel" N(0, 1/fan_in),
    "zeros" (biases, shifts), "ones" (gains). Twins are compared after loading canonical weights."""
    if init not in INITIALIZERS:
        raise ValueError(f"Expected `init` to be one of {INITIALIZERS}. Received: {init!r}")
    value = torch.empty(shape, dtype=getattr(torch, dtype))
    if init == "kernel":
        nn.init.normal_(value, 0.0, kernel_std(shape))
    else:
        nn.init.zeros_(value) if init == "zeros" else nn.init.ones_(value)
    return nn.Parameter(value)


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

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        # nn.Module files parameters and submodules apart; the canonical order is creation order, the
        # order of the docstring's equations (the TF twin reads it from vars()), so it is kept here.
        order = self.__dict__.setdefault("_creation_order", [])
        if name not in order:
            order.append(name)

    def canonical_variables(self) -> dict[str, nn.Parameter]:
        """The weights by canonical name, in creation order; sub-twins (and lists of them) add ``name.``."""
        out: dict[str, nn.Parameter] = {}
        for name in self.__dict__.get("_creation_order", []):
            value = getattr(self, name, None)
            if name.startswith("_"):
                continue
            if isinstance(value, nn.Parameter):
                out[name] = value
            elif isinstance(value, Twin):
                out.update({f"{name}.{n}": v for n, v in value.canonical_variables().items()})
            elif isinstance(value, nn.ModuleList) and len(value) and all(isinstance(v, Twin) for v in value):
                for i, v in enumerate(value):
                    assert isinstance(v, Twin)  # narrows ModuleList's Module for the type checker
                    out.update({f"{name}.{i}.{n}": w for n, w in v.canonical_variables().items()})
        return out

    def load_canonical(
        self,
        weights: Mapping[str, np.ndarray] | str | Path,
        ignore_config: bool = False,
        allow_nonfinite: bool = False,
    ) -> None:
        """Load canonical weights (a mapping or a safetensors path), cast to this twin's dtype.

        A file's saved config must be this twin's (``ignore_config=True`` skips that check); NaN or
        infinite weights are refused unless ``allow_nonfinite``. Nothing is assigned unless all pass.
        """
        if isinstance(weights, str | Path):
            source = repr(str(weights))
            weights, metadata = load_weights(weights)
            if not ignore_config:
                check_saved_config(metadata, getattr(self, "config", None), type(self).__name__, source)
        elif not isinstance(weights, Mapping):
            raise TypeError(
                f"Expected `weights` to be a mapping of name -> array or a safetensors path. Received: {type(weights).__name__}"
            )
        variables = self.canonical_variables()
        check_weights(weights, {n: tuple(v.shape) for n, v in variables.items()}, type(self).__name__)
        checks.check_float_weights(weights)
        if not allow_nonfinite:
            check_finite(weights)
        with torch.no_grad():
            for name, variable in variables.items():
                variable.copy_(torch.as_tensor(np.asarray(weights[name])).to(variable.dtype))

    def export_canonical(self) -> dict[str, np.ndarray]:
        return {name: v.detach().cpu().numpy().copy() for name, v in self.canonical_variables().items()}
