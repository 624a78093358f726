"""The converters of multi-head attention carry the function, not just the numbers.

``nn.MultiheadAttention`` <-> ``MultiHeadAttention`` both ways (with and without biases, with other key
and value sizes, masks flipped between the two conventions), and the registry's
``multi_head_attention`` canonical weights into both built-ins and back, exactly.
"""

import numpy as np
import pytest
from conftest import need
from interop_helpers import L, N, _close, _np


@pytest.mark.parametrize(
    "kdim, vdim, bias, batch_first", [(None, None, True, True), (None, None, False, False), (3, 7, True, True)]
)
def test_torch_multihead_attention_to_keras(kdim, vdim, bias, batch_first):
    need("tf")
    need("torch")
    import torch

    from twinmem import interop

    torch.manual_seed(0)
    E, S = 8, 5
    module = torch.nn.MultiheadAttention(E, 2, bias=bias, kdim=kdim, vdim=vdim, batch_first=batch_first)
    if bias:
        with torch.no_grad():
            module.in_proj_bias.normal_()
            module.out_proj.bias.normal_()
    q, k, v = torch.randn(N, L, E), torch.randn(N, S, kdim or E), torch.randn(N, S, vdim or E)
    mask = torch.rand(N, S) < 0.7  # ours: True = attend
    mask[:, 0] = True  # a fully masked row is NaN in torch
    args = (q, k, v) if batch_first else (q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1))
    out, _ = module(*args, key_padding_mask=~mask)  # torch: True = ignore
    if not batch_first:
        out = out.transpose(0, 1)
    layer = interop.torch_to_keras(module)
    attention_mask = np.repeat(mask.numpy()[:, None, :], L, axis=1)  # (N, L, S), True = attend
    _close(layer(q.numpy(), v.numpy(), k.numpy(), attention_mask=attention_mask), _np(out))


@pytest.mark.parametrize("kdim, vdim, bias", [(None, None, True), (None, None, False), (3, 7, True)])
def test_keras_multihead_attention_to_torch(kdim, vdim, bias):
    need("tf")
    need("torch")
    import keras
    import torch

    from twinmem import interop

    E, S, heads = 8, 5, 2
    layer = keras.layers.MultiHeadAttention(heads, E // heads, use_bias=bias, bias_initializer="random_normal")
    layer.build((None, L, E), (None, S, vdim or E), (None, S, kdim or E))
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal(s).astype(np.float32) for s in ((N, L, E), (N, S, kdim or E), (N, S, vdim or E)))
    attention_mask = rng.random((N, L, S)) < 0.7  # True = attend
    attention_mask[:, :, 0] = True
    module = interop.keras_to_torch(layer)
    torch_mask = torch.as_tensor(~attention_mask).repeat_interleave(heads, 0)  # (N H, L, S), True = ignore
    out, _ = module(*(torch.as_tensor(a) for a in (q, k, v)), attn_mask=torch_mask)
    _close(layer(q, v, k, attention_mask=attention_mask), _np(out))


def test_multihead_attention_canonical_both_ways():
    need("tf")
    need("torch")
    import torch

    from twinmem import interop, registry

    entry = registry.get("multi_head_attention")
    config = entry.make_config(d_model=8, num_heads=2, head_dim=4)
    weights = entry.random_weights(config)
    mha = interop.canonical_to_torch("multi_head_attention", config, weights)
    name, back_config, back = interop.torch_to_canonical(mha)
    assert name == "multi_head_attention" and back_config == config
    for n, w in weights.items():
        np.testing.assert_array_equal(back[n], w.astype(np.float32), err_msg=n)
    # Keras allows num_heads * head_dim != d_model, as the canonical layout does.
    config = entry.make_config(d_model=6, num_heads=2, head_dim=5)
    weights = entry.random_weights(config)
    layer = interop.canonical_to_keras("multi_head_attention", config, weights)
    _, back_config, back = interop.keras_to_canonical(layer)
    assert back_config == config
    for n, w in weights.items():
        np.testing.assert_array_equal(back[n], w.astype(np.float32), err_msg=n)
    x = np.random.default_rng(0).standard_normal((N, L, 6)).astype(np.float32)
    twin_out, _ = entry.build("torch", config, weights=weights)(*(torch.as_tensor(x),) * 3)
    _close(layer(x, x, x), _np(twin_out))
