"""``nn.Linear`` <-> ``Dense`` and ``nn.Embedding`` <-> ``Embedding``, with the same weights.

torch's ``nn.Linear.weight`` is (out, in), Keras' ``Dense.kernel`` (in, out): a transpose. An
embedding table is (V, d) on both sides. An option the other side cannot express is refused with a
ValueError naming it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from twinmem.interop.common import _activation_name, _keras_dtype, _need_built, _np, _torch_dtype, _warn


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
    """``nn.Embedding`` -> ``Embedding``. ``padding_idx``, ``scale_grad_by_freq`` and ``sparse`` change only
    training, which Keras' Embedding would do without them: the table is carried and a warning names them."""
    import keras

    if module.max_norm is not None:
        raise ValueError(
            "max_norm cannot be converted: torch renormalizes the looked-up rows in the forward pass, "
            f"Keras' Embedding never does. Received: max_norm={module.max_norm}"
        )
    training_only = {
        # torch never updates the pad row (its gradient is zero); Keras' Embedding has no such row.
        "padding_idx": module.padding_idx,
        # torch divides each row's gradient by its count in the batch.
        "scale_grad_by_freq": module.scale_grad_by_freq or None,
        # torch's gradient is a sparse tensor, for optimizers (SparseAdam) that update only the rows seen.
        "sparse": module.sparse or None,
    }
    named = {option: value for option, value in training_only.items() if value is not None}
    if named:
        _warn(
            f"torch_to_keras: nn.Embedding's {named} not carried: Keras' Embedding has no such option, so "
            "inference agrees and training differs",
            3,
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
    table = np.asarray(layer.embeddings.numpy())
    module = torch.nn.Embedding(*table.shape).to(_torch_dtype(layer))
    with torch.no_grad():
        module.weight.copy_(torch.as_tensor(table))
    return module
