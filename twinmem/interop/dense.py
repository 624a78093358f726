"""``nn.Linear`` <-> ``Dense`` and ``nn.Embedding`` <-> ``Embedding``, with the same weights.

torch's ``nn.Linear.weight`` is (out, in), Keras' ``Dense.kernel`` (in, out): a transpose. An
embedding table is (V, d) on both sides. An option the other side cannot express is refused with a
ValueError naming it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from twinmem.interop.common import _activation_name, _keras_dtype, _need_built, _np, _torch_dtype


def linear_to_keras(module: Any, name: str | None) -> Any:
    """``nn.Linear`` -> a ``Dense`` with no activation, named ``name`` (None: Keras chooses)."""
    import keras

    has_bias = module.bias is not None
    dense = keras.layers.Dense(module.out_features, use_bias=has_bias, name=name, dtype=_keras_dtype(module))
    dense.build((None, module.in_features))
    dense.kernel.assign(_np(module.weight).T)  # torch (out, in) -> Keras (in, out)
    if has_bias:
        dense.bias.assign(_np(module.bias))
    return dense


def embedding_to_keras(module: Any, name: str | None) -> Any:
    """``padding_idx``, ``scale_grad_by_freq`` and ``sparse`` change only the gradient: carried as is."""
    import keras

    if module.max_norm is not None:
        raise ValueError(
            "max_norm cannot be converted: torch renormalizes the looked-up rows in the forward pass, "
            f"Keras' Embedding never does. Received: max_norm={module.max_norm}"
        )
    emb = keras.layers.Embedding(module.num_embeddings, module.embedding_dim, name=name, dtype=_keras_dtype(module))
    emb.build()
    emb.embeddings.assign(_np(module.weight))
    return emb


def dense_to_torch(layer: Any) -> Any:
    """A built ``Dense`` without activation -> ``nn.Linear``."""
    import torch

    _need_built(layer)
    activation = _activation_name(layer.activation)
    if activation != "linear":
        raise ValueError(
            f"Dense {layer.name!r}: activation={activation!r} cannot be converted: nn.Linear has no "
            f"activation (follow it with the torch function). Received: activation={activation!r}"
        )
    if getattr(layer, "lora_enabled", False):
        raise ValueError(f"Dense {layer.name!r}: LoRA cannot be converted: nn.Linear has no low-rank update")
    kernel = np.asarray(layer.kernel.numpy())  # (in, out)
    module = torch.nn.Linear(kernel.shape[0], kernel.shape[1], bias=layer.use_bias).to(_torch_dtype(layer))
    with torch.no_grad():
        module.weight.copy_(torch.as_tensor(kernel.T))
        if layer.use_bias:
            module.bias.copy_(torch.as_tensor(np.asarray(layer.bias.numpy())))
    return module


def embedding_to_torch(layer: Any) -> Any:
    """``mask_zero=True`` changes no output value: the ids' mask, ``ids != 0``, is for the caller to make."""
    import torch

    _need_built(layer)
    if getattr(layer, "lora_enabled", False):
        raise ValueError(f"Embedding {layer.name!r}: LoRA cannot be converted: nn.Embedding has no low-rank update")
    table = np.asarray(layer.embeddings.numpy())
    module = torch.nn.Embedding(*table.shape).to(_torch_dtype(layer))
    with torch.no_grad():
        module.weight.copy_(torch.as_tensor(table))
    return module
