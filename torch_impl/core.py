"""What every PyTorch twin shares: the initializer rule, canonical weights in and out, the embedding lookup."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from twinmem import checks
from twinmem.weights import (
    INITIALIZERS,
    cast_to,
    cast_weights,
    check_finite,
    check_saved_config,
    check_weights,
    kernel_std,
    load_weights,
)


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


def upcast(x):
    """x in float32 if it is 16-bit (bfloat16, float16), else x itself: for the steps a family's docstring
    computes in float32 (softmax, LayerNorm, GELU, the sums of a matmul)."""
    return x.to(torch.float32) if checks.is_low_precision(x.dtype) else x


def matmul(a, b, bias=None):
    """a @ b + ``bias``; 16-bit operands are multiplied and added in float32 and the result rounded once.

    Their values are float32 values, so the products are exact and the sums are float32's, whatever a
    framework's own 16-bit kernel would accumulate in (CPU kernels differ, and on a GPU torch may reduce
    float16 in float16): both twins round the same float32 sum once, to the operands' dtype. The bias
    is added in float32 too, so that its gradient, a sum over every leading axis, is summed in float32:
    TF 2.21 on CPU sums a float16 tensor over several axes with float16 partial sums (measured: a
    multi-head attention's b_k gradient 4 u off the reference, torch's 2.4 u), torch in float32.
    """
    if not checks.is_low_precision(a.dtype):
        if bias is not None and b.dim() == 2:
            # nn.Linear's kernel (a GEMM that adds the bias): the same values as matmul + bias (measured
            # bit-equal in float32 and float64), one pass over the output less (0.04 ms of 0.74 at 1024x256).
            return F.linear(a, b.T, bias)
        y = torch.matmul(a, b)
        return y if bias is None else y + bias
    y = torch.matmul(upcast(a), upcast(b))
    return (y if bias is None else y + upcast(bias)).to(a.dtype)


def tensordot(a, b, bias=None):
    """a (..., U) . b (U, ...) + ``bias``, contracting one axis; 16-bit operands as ``matmul``."""
    if not checks.is_low_precision(a.dtype):
        y = torch.tensordot(a, b, dims=1)
        return y if bias is None else y + bias
    y = torch.tensordot(upcast(a), upcast(b), dims=1)
    return (y if bias is None else y + upcast(bias)).to(a.dtype)


def from_numpy(x: np.ndarray, dtype: torch.dtype | None = None) -> torch.Tensor:
    """A NumPy array as a tensor (of ``dtype`` if given); an ml_dtypes bfloat16 array, which torch cannot
    take, goes through float32, which holds its values exactly."""
    if x.dtype.name == "bfloat16":
        return torch.as_tensor(x.astype(np.float32)).to(torch.bfloat16 if dtype is None else dtype)
    t = torch.as_tensor(x)
    return t if dtype is None else t.to(dtype)


def to_numpy(x: torch.Tensor) -> np.ndarray:
    """A tensor as NumPy; bfloat16, which torch's .numpy() refuses, as ml_dtypes.bfloat16 (through float32, exact)."""
    x = x.detach().cpu()
    return cast_to(x.to(torch.float32).numpy(), "bfloat16") if x.dtype == torch.bfloat16 else x.numpy()


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
        checks.check_twin_dtype(dtype)
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
            for prefix, twin in sub_twins(name, value):
                out.update({f"{prefix}.{n}": v for n, v in twin.canonical_variables().items()})
        return out

    def stored_orders(self) -> dict[str, list[int]]:
        """This twin's own weights held in another order along their last axis than the canonical layout's
        (the torch GRU cell's gates, in its kernel's order): name -> p, with ``stored[..., p]`` the canonical
        array. None by default."""
        return {}

    def canonical_orders(self) -> dict[str, list[int]]:
        """``stored_orders`` of this twin and its sub-twins, by canonical name (as ``canonical_variables``)."""
        out = dict(self.stored_orders())
        for name in self.__dict__.get("_creation_order", []):
            if not name.startswith("_"):
                for prefix, twin in sub_twins(name, getattr(self, name, None)):
                    out.update({f"{prefix}.{n}": p for n, p in twin.canonical_orders().items()})
        return out

    def to_canonical(self, arrays: Mapping[str, Any]) -> dict[str, Any]:
        """Arrays (weights or their gradients) by canonical name, as stored -> in the canonical layout."""
        orders = self.canonical_orders()
        return {n: a[..., orders[n]] if n in orders else a for n, a in arrays.items()}

    def load_canonical(
        self,
        weights: Mapping[str, np.ndarray] | str | Path,
        ignore_config: bool = False,
        allow_nonfinite: bool = False,
        allow_16_bit_cast: bool = False,
    ) -> None:
        """Load canonical weights (a mapping or a safetensors path), cast to this twin's dtype.

        The cast rounds to nearest, ties to even, once, from the weights' own precision (a float32 or
        float64 file into a bfloat16 or float16 twin: ``twinmem.weights.cast_to``); a bfloat16 file reads as
        it is (``ml_dtypes.bfloat16``).

        A file's saved config must be this twin's (``ignore_config=True`` skips that check); NaN or
        infinite weights are refused unless ``allow_nonfinite``; so are weights the cast would make
        infinite, and a bfloat16 file into a float16 twin or back unless ``allow_16_bit_cast``
        (``twinmem.weights.cast_weights``). Nothing is assigned unless all pass.
        """
        if isinstance(weights, str | Path):
            source = repr(str(weights))
            weights, metadata = load_weights(weights, bfloat16=True)
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
        cast = cast_weights(weights, {n: checks.dtype_name(v.dtype) for n, v in variables.items()}, allow_16_bit_cast)
        orders = self.canonical_orders()
        with torch.no_grad():
            for name, variable in variables.items():
                # Into the stored order: the inverse of the permutation that gives the canonical array back.
                stored = cast[name][..., np.argsort(orders[name])] if name in orders else cast[name]
                variable.copy_(from_numpy(np.ascontiguousarray(stored)))

    def export_canonical(self) -> dict[str, np.ndarray]:
        arrays = {name: to_numpy(v) for name, v in self.canonical_variables().items()}
        return {name: np.array(a) for name, a in self.to_canonical(arrays).items()}  # copies, in canonical order


def sub_twins(name: str, value: Any) -> list[tuple[str, Twin]]:
    """The sub-twins an attribute holds, with their name prefixes: a Twin, or a ModuleList of them (``name.i``)."""
    if isinstance(value, Twin):
        return [(name, value)]
    if isinstance(value, nn.ModuleList) and len(value) and all(isinstance(v, Twin) for v in value):
        return [(f"{name}.{i}", v) for i, v in enumerate(value)]  # type: ignore[misc]
    return []
