"""``nn.Linear`` <-> ``Dense`` and ``nn.Embedding`` <-> ``Embedding``: the converted layer computes the original."""

import numpy as np
import pytest
from conftest import need
from interop_helpers import H_IN, H, L, N, _close, _np


@pytest.mark.parametrize("bias", [True, False])
def test_linear_and_dense_both_ways(bias):
    need("tf")
    need("torch")
    import keras
    import torch

    from twinmem import interop

    module = torch.nn.Linear(H_IN, H, bias=bias)
    x = np.random.default_rng(0).standard_normal((N, L, H_IN)).astype(np.float32)
    _close(interop.torch_to_keras(module)(x), _np(module(torch.as_tensor(x))))
    dense = keras.layers.Dense(H, use_bias=bias, bias_initializer="random_normal")
    dense.build((None, H_IN))
    _close(dense(x), _np(interop.keras_to_torch(dense)(torch.as_tensor(x))))


def test_embedding_both_ways():
    need("tf")
    need("torch")
    import keras
    import torch

    from twinmem import interop

    ids = np.random.default_rng(0).integers(0, 11, (N, L))
    module = torch.nn.Embedding(11, H, padding_idx=0)  # padding_idx shapes only the gradient
    _close(interop.torch_to_keras(module)(ids), _np(module(torch.as_tensor(ids))))
    emb = keras.layers.Embedding(11, H)
    emb.build()
    _close(emb(ids), _np(interop.keras_to_torch(emb)(torch.as_tensor(ids))))
