"""What the converters of every layer kind share: NumPy out of torch, the dtypes carried, the built check."""

from __future__ import annotations

from typing import Any

import numpy as np


def _np(t: Any) -> np.ndarray:
    """A torch tensor's values as NumPy (detached, on the CPU)."""
    return t.detach().cpu().numpy()


def _keras_dtype(module: Any) -> str:
    """The Keras dtype of a torch module's weights: "float32" or "float64", the two the converters carry."""
    import torch

    dtype = next(module.parameters()).dtype
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"Converters carry float32 or float64 weights. Received: {dtype}")
    return str(dtype).removeprefix("torch.")


def _torch_dtype(layer: Any) -> Any:
    """The torch dtype of a Keras layer's weights: float32 or float64, the two the converters carry."""
    import torch

    if layer.dtype not in ("float32", "float64"):
        raise ValueError(f"Converters carry float32 or float64 weights. Received: dtype={layer.dtype!r}")
    return getattr(torch, layer.dtype)


def _need_built(layer: Any) -> None:
    """A Keras layer has weights only once built: refuse one that is not."""
    if not layer.built:
        raise ValueError(
            f"Layer {layer.name!r} is not built, so it has no weights yet: call it once or call "
            "layer.build(input_shape) first"
        )


def _activation_name(fn: Any) -> str:
    """The name of a Keras activation function, as its ``get_config`` spells it."""
    return getattr(fn, "__name__", str(fn))
