"""Run a torch twin for the parity harness: outputs, intermediates and gradients, as NumPy."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch


def to_tensors(inputs: Mapping[str, np.ndarray], dtype: str) -> dict:
    """Floating inputs in the twin's dtype; masks and token ids as they are."""
    return {n: torch.as_tensor(x.astype(dtype) if x.dtype.kind == "f" else x) for n, x in inputs.items()}


def forward_and_grads(model, inputs: Mapping[str, np.ndarray], cotangents, dtype: str):
    """Forward with intermediates, then d(sum_k <c_k, out_k>)/d(every floating input and weight)."""
    x = to_tensors(inputs, dtype)
    float_inputs = {n: t.requires_grad_() for n, t in x.items() if t.is_floating_point()}
    variables = model.canonical_variables()
    with torch.enable_grad():
        outputs, mids = model(**x, return_intermediates=True)
        loss = torch.zeros((), dtype=getattr(torch, dtype))
        for o, c in zip(outputs, cotangents, strict=True):
            if c is not None:
                loss = loss + torch.sum(o * torch.as_tensor(c.astype(dtype)))
    sources = {
        **{f"input:{n}": t for n, t in float_inputs.items()},
        **{f"weight:{n}": v for n, v in variables.items()},
    }
    grads = torch.autograd.grad(loss, list(sources.values()), allow_unused=True, materialize_grads=True)
    return (
        tuple(None if o is None else o.detach().numpy() for o in outputs),  # None: a fused path's weights
        {n: m.detach().numpy() for n, m in mids.items()},
        {n: g.numpy() for n, g in zip(sources, grads, strict=True)},
    )


def to_numpy(x) -> np.ndarray:
    return x.detach().cpu().numpy()
