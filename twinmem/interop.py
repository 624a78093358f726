"""Converters between twinmem's canonical weights and the frameworks' own built-in layers.

The one place in ``twinmem/`` that imports both frameworks (lazily, per function). Each converter
says which framework layout it maps to. Masks: twinmem's True = attend; torch's
``key_padding_mask`` and boolean ``attn_mask`` of ``nn.MultiheadAttention`` mean True = *ignore*,
so callers flip them (``~mask``) and the built-in wrappers below do so.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def mha_to_torch(weights: Mapping[str, np.ndarray], config, dtype: str = "float32"):
    """Canonical multi-head attention -> ``torch.nn.MultiheadAttention(batch_first=True)``.

    torch stores ``in_proj_weight`` as (3 D, D) = [W_q^T; W_k^T; W_v^T] (out, in) and
    ``out_proj.weight`` as W_o^T; it needs H d_h == D.
    """
    import torch

    _need_square_heads(config)
    mha = torch.nn.MultiheadAttention(config.d_model, config.num_heads, bias=True, batch_first=True)
    t = {n: torch.as_tensor(np.asarray(w, dtype=dtype)) for n, w in weights.items()}
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.cat([t["W_q"].T, t["W_k"].T, t["W_v"].T]))
        mha.in_proj_bias.copy_(torch.cat([t["b_q"], t["b_k"], t["b_v"]]))
        mha.out_proj.weight.copy_(t["W_o"].T)
        mha.out_proj.bias.copy_(t["b_o"])
    return mha.to(getattr(torch, dtype))


def mha_to_keras(weights: Mapping[str, np.ndarray], config, dtype: str = "float32"):
    """Canonical multi-head attention -> ``keras.layers.MultiHeadAttention``.

    Keras stores the projections per head: query/key/value kernels (D, H, d_h) with biases (H, d_h),
    the output kernel (H, d_h, D); head h is columns [h d_h, (h+1) d_h) of the canonical W_q.
    """
    import keras

    c = config
    mha = keras.layers.MultiHeadAttention(c.num_heads, c.head_dim, use_bias=True, dtype=dtype)
    mha.build((1, 1, c.d_model), (1, 1, c.d_model), (1, 1, c.d_model))
    w = {n: np.asarray(v, dtype=dtype) for n, v in weights.items()}
    H, d_h, D = c.num_heads, c.head_dim, c.d_model
    for dense, name in ((mha.query_dense, "q"), (mha.key_dense, "k"), (mha.value_dense, "v")):
        dense.kernel.assign(w[f"W_{name}"].reshape(D, H, d_h))
        dense.bias.assign(w[f"b_{name}"].reshape(H, d_h))
    mha.output_dense.kernel.assign(w["W_o"].reshape(H, d_h, D))
    mha.output_dense.bias.assign(w["b_o"])
    return mha


def _need_square_heads(config) -> None:
    if config.num_heads * config.head_dim != config.d_model:
        raise ValueError(
            "torch.nn.MultiheadAttention needs num_heads * head_dim == d_model. "
            f"Received: {config.num_heads} * {config.head_dim} != {config.d_model}"
        )
