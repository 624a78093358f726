"""Multi-head attention: canonical weights <-> ``nn.MultiheadAttention`` <-> Keras' ``MultiHeadAttention``.

Canonical: W_q, W_k, W_v (D, H d_h) and W_o (H d_h, D), kernels (in, out), head h in columns
[h d_h, (h+1) d_h), with biases b_q, b_k, b_v (H d_h,) and b_o (D,). torch stacks the three input
projections out x in, ``in_proj_weight`` (3 E, E) = [W_q^T; W_k^T; W_v^T] (or ``q/k/v_proj_weight``
when keys and values have other sizes), and needs H d_h == E. Keras keeps them per head: kernels
(D, H, d_h), biases (H, d_h), the output kernel (H, d_h, D). Masks: True = attend here and in Keras;
torch's ``key_padding_mask`` and boolean ``attn_mask`` mean True = *ignore*, so callers flip them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from twinmem.configs.attention import MultiHeadAttentionConfig
from twinmem.interop.common import _keras_dtype, _need_built, _np, _torch_dtype


def mha_to_torch(weights: Mapping[str, np.ndarray], config: Any, dtype: str = "float32") -> Any:
    """Canonical multi-head attention -> ``torch.nn.MultiheadAttention(batch_first=True)``.

    torch stores ``in_proj_weight`` as (3 D, D) = [W_q^T; W_k^T; W_v^T] (out, in) and
    ``out_proj.weight`` as W_o^T; it needs H d_h == D.
    """
    import torch

    _need_square_heads(config)
    # Made in the dtype itself: float32 first and .to(float64) after would round the weights on the way.
    mha = torch.nn.MultiheadAttention(
        config.d_model, config.num_heads, bias=True, batch_first=True, dtype=getattr(torch, dtype)
    )
    t = {n: torch.as_tensor(np.asarray(w, dtype=dtype)) for n, w in weights.items()}
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.cat([t["W_q"].T, t["W_k"].T, t["W_v"].T]))
        mha.in_proj_bias.copy_(torch.cat([t["b_q"], t["b_k"], t["b_v"]]))
        mha.out_proj.weight.copy_(t["W_o"].T)
        mha.out_proj.bias.copy_(t["b_o"])
    return mha


def mha_to_keras(
    weights: Mapping[str, np.ndarray], config: Any, dtype: str = "float32", name: str | None = None
) -> Any:
    """Canonical multi-head attention -> ``keras.layers.MultiHeadAttention``.

    Keras stores the projections per head: query/key/value kernels (D, H, d_h) with biases (H, d_h),
    the output kernel (H, d_h, D); head h is columns [h d_h, (h+1) d_h) of the canonical W_q.
    ``name`` names the layer (None: Keras chooses).
    """
    import keras

    c = config
    mha = keras.layers.MultiHeadAttention(c.num_heads, c.head_dim, use_bias=True, name=name, dtype=dtype)
    mha.build((1, 1, c.d_model), (1, 1, c.d_model), (1, 1, c.d_model))
    w = {n: np.asarray(v, dtype=dtype) for n, v in weights.items()}
    H, d_h, D = c.num_heads, c.head_dim, c.d_model
    for dense, name in ((mha.query_dense, "q"), (mha.key_dense, "k"), (mha.value_dense, "v")):
        dense.kernel.assign(w[f"W_{name}"].reshape(D, H, d_h))
        dense.bias.assign(w[f"b_{name}"].reshape(H, d_h))
    mha.output_dense.kernel.assign(w["W_o"].reshape(H, d_h, D))
    mha.output_dense.bias.assign(w["b_o"])
    return mha


def _need_square_heads(config: Any) -> None:
    if config.num_heads * config.head_dim != config.d_model:
        raise ValueError(
            "torch.nn.MultiheadAttention needs num_heads * head_dim == d_model. "
            f"Received: {config.num_heads} * {config.head_dim} != {config.d_model}"
        )


def mha_torch_to_keras(module: Any, name: str | None) -> Any:
    """``nn.MultiheadAttention`` -> ``MultiHeadAttention``, as ``torch_to_keras`` documents it."""
    import keras

    for option in ("bias_k", "bias_v"):
        if getattr(module, option) is not None:
            raise ValueError(
                "add_bias_kv=True cannot be converted: Keras' MultiHeadAttention has no learned key/value "
                "appended to the sequence. Received: add_bias_kv=True"
            )
    if module.add_zero_attn:
        raise ValueError(
            "add_zero_attn=True cannot be converted: Keras' MultiHeadAttention appends no zero key/value. "
            "Received: add_zero_attn=True"
        )
    E, H = module.embed_dim, module.num_heads
    d = E // H
    has_bias = module.out_proj.bias is not None
    dtype = _keras_dtype(module)
    mha = keras.layers.MultiHeadAttention(
        H, d, value_dim=d, dropout=module.dropout, use_bias=has_bias, name=name, dtype=dtype
    )
    mha.build((None, None, E), (None, None, module.vdim), (None, None, module.kdim))
    if module._qkv_same_embed_dim:
        W_q, W_k, W_v = np.split(_np(module.in_proj_weight), 3)  # each (E, E_in), out x in
    else:
        W_q, W_k, W_v = (_np(getattr(module, f"{n}_proj_weight")) for n in "qkv")
    denses = (mha.query_dense, mha.key_dense, mha.value_dense)
    for dense, W in zip(denses, (W_q, W_k, W_v), strict=True):
        dense.kernel.assign(W.T.reshape(-1, H, d))  # (E_in, H, d_h): head h is columns [h d_h, (h+1) d_h)
    mha.output_dense.kernel.assign(_np(module.out_proj.weight).T.reshape(H, d, E))
    if has_bias:
        for dense, b in zip(denses, np.split(_np(module.in_proj_bias), 3), strict=True):
            dense.bias.assign(b.reshape(H, d))
        mha.output_dense.bias.assign(_np(module.out_proj.bias))
    return mha


def mha_torch_to_canonical(module: Any) -> tuple[str, Any, dict[str, np.ndarray]]:
    """``nn.MultiheadAttention`` -> ``("multi_head_attention", config, weights)``, as ``torch_to_canonical``."""
    E, H = module.embed_dim, module.num_heads
    if not module._qkv_same_embed_dim:
        raise ValueError(
            "kdim / vdim other than embed_dim cannot be converted: the canonical multi_head_attention "
            f"projects keys and values from d_model features. Received: kdim={module.kdim}, vdim={module.vdim}, "
            f"embed_dim={E}"
        )
    if module.bias_k is not None:
        raise ValueError(
            "add_bias_kv=True cannot be converted: the canonical multi_head_attention has no learned "
            "key/value appended to the sequence. Received: add_bias_kv=True"
        )
    if module.add_zero_attn:
        raise ValueError(
            "add_zero_attn=True cannot be converted: the canonical multi_head_attention appends no zero "
            "key/value. Received: add_zero_attn=True"
        )
    _keras_dtype(module)  # float32 or float64 only
    W_q, W_k, W_v = np.split(_np(module.in_proj_weight), 3)  # each (E, E), out x in
    W_o = _np(module.out_proj.weight)
    if module.in_proj_bias is not None:
        b_q, b_k, b_v = np.split(_np(module.in_proj_bias), 3)
        b_o = _np(module.out_proj.bias)
    else:
        b_q = b_k = b_v = b_o = np.zeros(E, dtype=W_o.dtype)
    weights = {"W_q": W_q.T, "b_q": b_q, "W_k": W_k.T, "b_k": b_k, "W_v": W_v.T, "b_v": b_v, "W_o": W_o.T, "b_o": b_o}
    config = MultiHeadAttentionConfig(d_model=E, num_heads=H, head_dim=E // H, causal=False)
    return "multi_head_attention", config, {n: np.ascontiguousarray(w) for n, w in weights.items()}


def _check_keras_mha(layer: Any, target: str) -> tuple[dict[str, Any], str]:
    """Refuse what neither torch's MultiheadAttention nor the canonical layout (``target``) can express.

    Returns the layer's config and the layer's name for error messages.
    """
    _need_built(layer)
    cfg = layer.get_config()
    key_dim, value_dim = cfg["key_dim"], cfg["value_dim"] or cfg["key_dim"]
    where = f"MultiHeadAttention {layer.name!r}"
    if key_dim != value_dim:
        raise ValueError(
            f"{where}: key_dim != value_dim cannot be converted: {target} has one head size for queries, "
            f"keys and values. Received: key_dim={key_dim}, value_dim={value_dim}"
        )
    D = layer.query_dense.kernel.shape[0]
    if cfg["output_shape"] is not None and tuple(np.atleast_1d(cfg["output_shape"])) != (D,):
        raise ValueError(
            f"{where}: output_shape cannot be converted: {target}'s output has the query's size. "
            f"Received: output_shape={cfg['output_shape']}"
        )
    if cfg["attention_axes"] not in (None, (1,), [1]):
        raise ValueError(
            f"{where}: attention_axes cannot be converted: {target} attends over the sequence axis only. "
            f"Received: attention_axes={cfg['attention_axes']}"
        )
    for option, inert in (("use_gate", False), ("sliding_window", None)):
        if cfg.get(option, inert) != inert:
            raise ValueError(
                f"{where}: {option} cannot be converted: {target} has no such option. "
                f"Received: {option}={cfg[option]!r}"
            )
    return cfg, where


def mha_keras_to_canonical(layer: Any) -> tuple[str, Any, dict[str, np.ndarray]]:
    """``MultiHeadAttention`` -> ``("multi_head_attention", config, weights)``, as ``keras_to_canonical``."""
    cfg, where = _check_keras_mha(layer, "the canonical multi_head_attention")
    H, key_dim = cfg["num_heads"], cfg["key_dim"]
    denses = (layer.query_dense, layer.key_dense, layer.value_dense)
    sizes = [dense.kernel.shape[0] for dense in denses]
    D = sizes[0]
    if sizes[1:] != [D, D]:
        raise ValueError(
            f"{where}: key or value features other than the query's cannot be converted: the canonical "
            f"multi_head_attention projects all three from d_model features. Received: query {sizes[0]}, "
            f"key {sizes[1]}, value {sizes[2]}"
        )
    HD = H * key_dim
    weights = {}
    for dense, n in zip((*denses, layer.output_dense), "qkvo", strict=True):
        kernel = np.asarray(dense.kernel.numpy())
        weights[f"W_{n}"] = kernel.reshape((D, HD) if n != "o" else (HD, D))  # head h: columns [h d_h, (h+1) d_h)
        size = D if n == "o" else HD
        weights[f"b_{n}"] = (
            np.asarray(dense.bias.numpy()).reshape(size) if cfg["use_bias"] else np.zeros(size, kernel.dtype)
        )
    config = MultiHeadAttentionConfig(d_model=D, num_heads=H, head_dim=key_dim, causal=False)
    return "multi_head_attention", config, weights


def mha_keras_to_torch(layer: Any) -> Any:
    """``MultiHeadAttention`` -> ``nn.MultiheadAttention(batch_first=True)``, as ``keras_to_torch``."""
    import torch

    cfg, where = _check_keras_mha(layer, "torch's MultiheadAttention")
    H, key_dim, E = cfg["num_heads"], cfg["key_dim"], layer.query_dense.kernel.shape[0]
    if H * key_dim != E:
        raise ValueError(
            f"{where}: num_heads * key_dim != query size cannot be converted: torch's head size is "
            f"embed_dim / num_heads. Received: {H} * {key_dim} != {E}"
        )
    use_bias = cfg["use_bias"]
    kdim, vdim = layer.key_dense.kernel.shape[0], layer.value_dense.kernel.shape[0]
    module = torch.nn.MultiheadAttention(
        E, H, dropout=cfg["dropout"], bias=use_bias, kdim=kdim, vdim=vdim, batch_first=True
    ).to(_torch_dtype(layer))
    denses = (layer.query_dense, layer.key_dense, layer.value_dense)
    W = [np.asarray(dense.kernel.numpy()).reshape(-1, E).T for dense in denses]  # (E, E_in), out x in
    t = torch.as_tensor
    with torch.no_grad():
        if module._qkv_same_embed_dim:
            module.in_proj_weight.copy_(t(np.concatenate(W)))
        else:
            for n, w in zip("qkv", W, strict=True):
                getattr(module, f"{n}_proj_weight").copy_(t(w))
        module.out_proj.weight.copy_(t(np.asarray(layer.output_dense.kernel.numpy()).reshape(E, E).T))
        if use_bias:
            module.in_proj_bias.copy_(t(np.concatenate([np.asarray(d.bias.numpy()).reshape(E) for d in denses])))
            module.out_proj.bias.copy_(t(np.asarray(layer.output_dense.bias.numpy())))
    return module
