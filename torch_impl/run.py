"""Run a torch twin for the parity harness: outputs, intermediates and gradients, as NumPy."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from torch_impl.core import from_numpy
from twinmem.weights import cast_to


def to_tensors(inputs: Mapping[str, np.ndarray], dtype: str) -> dict:
    """Floating inputs in the twin's dtype; masks and token ids as they are."""
    return {n: from_numpy(cast_to(x, dtype) if x.dtype.kind == "f" else x) for n, x in inputs.items()}


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
                loss = loss + torch.sum(o * from_numpy(cast_to(c, dtype)))
    sources = {
        **{f"input:{n}": t for n, t in float_inputs.items()},
        **{f"weight:{n}": v for n, v in variables.items()},
    }
    grads = torch.autograd.grad(loss, list(sources.values()), allow_unused=True, materialize_grads=True)
    grads_by_name = dict(zip(sources, grads, strict=True))
    # Weights held in another order than the canonical layout's (the GRU's gates): their gradients too.
    weight_grads = model.to_canonical({n: grads_by_name[f"weight:{n}"] for n in variables})
    grads_by_name.update({f"weight:{n}": g for n, g in weight_grads.items()})
    return (
        tuple(None if o is None else to_numpy(o) for o in outputs),  # None: a fused path's weights
        {n: to_numpy(m) for n, m in mids.items()},
        {n: to_numpy(g) for n, g in grads_by_name.items()},
    )


def to_numpy(x) -> np.ndarray:
    """As NumPy; bfloat16 and float16 as float64 (exact), which every NumPy function takes (and torch's
    .numpy() refuses bfloat16)."""
    x = x.detach().cpu()
    return x.to(torch.float64).numpy() if x.dtype in (torch.bfloat16, torch.float16) else x.numpy()
