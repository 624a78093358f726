"""The converters between torch's and Keras' built-in recurrent layers carry the function, not just the numbers.

Every option combination of ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` and ``SimpleRNN`` / ``LSTM`` / ``GRU``
(stacked, bidirectional) both ways: the converted layer agrees with the original on random inputs, its
final states included. The canonical weights of the registry's ``rnn`` / ``lstm`` / ``gru`` load into the
built-ins, which then compute what the registry twin computes, and come back from them exactly.
"""

import itertools

import numpy as np
import pytest
from conftest import need
from interop_helpers import H_IN, TORCH_KINDS, H, L, N, _close, _np, _states


def _keras_recurrent(kind, num_layers, bidirectional, bias, return_sequences):
    import keras

    class_name, activation = TORCH_KINDS[kind]
    keras_class = {"RNN": keras.layers.SimpleRNN, "LSTM": keras.layers.LSTM, "GRU": keras.layers.GRU}[class_name]
    options = {"activation": activation} if activation else {}
    stack = []
    for k in range(num_layers):
        layer = keras_class(
            H,
            use_bias=bias,
            bias_initializer="random_normal",  # Keras' default zeros would hide a misplaced bias
            return_sequences=return_sequences or k < num_layers - 1,
            seed=k,
            **options,
        )
        stack.append(keras.layers.Bidirectional(layer) if bidirectional else layer)
    out = stack[0] if num_layers == 1 else keras.Sequential(stack)
    out.build((None, None, H_IN))
    return out


@pytest.mark.parametrize(
    "kind, num_layers, bidirectional, bias, batch_first",
    list(itertools.product(TORCH_KINDS, (1, 2), (False, True), (True, False), (True, False))),
)
def test_torch_recurrent_to_keras(kind, num_layers, bidirectional, bias, batch_first):
    need("tf")
    need("torch")
    import torch

    from twinmem import interop

    torch.manual_seed(0)
    class_name, nonlinearity = TORCH_KINDS[kind]
    options = {"nonlinearity": nonlinearity} if nonlinearity else {}
    module = getattr(torch.nn, class_name)(
        H_IN, H, num_layers=num_layers, bias=bias, batch_first=batch_first, bidirectional=bidirectional, **options
    )
    with torch.no_grad():  # biases of order one, so a dropped or misplaced bias shows
        for n, p in module.named_parameters():
            if n.startswith("bias"):
                p.normal_(0.0, 0.5)
    x = torch.randn(N, L, H_IN)  # batch-major
    out, states = module(x if batch_first else x.transpose(0, 1))
    if not batch_first:
        out = out.transpose(0, 1)
    layer = interop.torch_to_keras(module)
    _close(layer(x.numpy()), _np(out))  # the converted layer returns the whole sequence, batch-major
    k_out, k_states = interop.keras_call_like_torch(layer, x.numpy())
    _close(k_out, _np(out))
    for k, t in zip(_states(k_states), _states(states), strict=True):
        _close(k, _np(t))


@pytest.mark.parametrize(
    "kind, num_layers, bidirectional, bias, return_sequences",
    list(itertools.product(TORCH_KINDS, (1, 2), (False, True), (True, False), (True, False))),
)
def test_keras_recurrent_to_torch(kind, num_layers, bidirectional, bias, return_sequences):
    need("tf")
    need("torch")
    import torch

    from twinmem import interop

    layer = _keras_recurrent(kind, num_layers, bidirectional, bias, return_sequences)
    module = interop.keras_to_torch(layer)
    assert module.batch_first and module.num_layers == num_layers and module.bidirectional == bidirectional
    x = np.random.default_rng(0).standard_normal((N, L, H_IN)).astype(np.float32)
    out, states = module(torch.as_tensor(x))
    h_n = _states(states)[0]
    D = 2 if bidirectional else 1
    expected = out if return_sequences else torch.cat(list(h_n[-D:]), -1)  # the mapping keras_to_torch documents
    _close(layer(x), _np(expected))
    if return_sequences:
        _, k_states = interop.keras_call_like_torch(layer, x)
        for k, t in zip(_states(k_states), _states(states), strict=True):
            _close(k, _np(t))


def test_single_keras_layer_return_state_is_torch_final_state():
    need("tf")
    need("torch")
    import keras
    import torch

    from twinmem import interop

    layer = keras.layers.Bidirectional(
        keras.layers.LSTM(H, return_sequences=True, return_state=True, bias_initializer="random_normal")
    )
    layer.build((None, None, H_IN))
    x = np.random.default_rng(1).standard_normal((N, L, H_IN)).astype(np.float32)
    out, h_fw, c_fw, h_bw, c_bw = layer(x)
    t_out, (h_n, c_n) = interop.keras_to_torch(layer)(torch.as_tensor(x))
    for a, b in ((out, t_out), (h_fw, h_n[0]), (c_fw, c_n[0]), (h_bw, h_n[1]), (c_bw, c_n[1])):
        _close(a, _np(b))


def test_torch_dropout_between_layers_is_not_carried_and_inference_agrees():
    need("tf")
    need("torch")
    import torch

    from twinmem import interop

    module = torch.nn.GRU(H_IN, H, num_layers=2, dropout=0.5, batch_first=True).eval()
    x = torch.randn(N, L, H_IN)
    _close(interop.torch_to_keras(module)(x.numpy()), _np(module(x)[0]))


def test_float64_is_kept_both_ways():
    need("tf")
    need("torch")
    import torch

    from twinmem import interop

    module = torch.nn.LSTM(H_IN, H, num_layers=2, bidirectional=True, batch_first=True).double()
    layer = interop.torch_to_keras(module)
    assert all(v.dtype == "float64" for v in layer.weights)
    x = torch.randn(N, L, H_IN, dtype=torch.float64)
    _close(layer(x.numpy()), _np(module(x)[0]), "float64")
    back = interop.keras_to_torch(layer)
    assert back.weight_ih_l0.dtype == torch.float64
    _close(_np(back(x)[0]), _np(module(x)[0]), "float64")


RECURRENT_MODELS = {
    "rnn_tanh": ("rnn", "tanh"),
    "rnn_relu": ("rnn", "relu"),
    "lstm": ("lstm", None),
    "gru": ("gru", None),
}


_RECURRENT_GRID = list(itertools.product(RECURRENT_MODELS, (1, 2), (False, True)))


def _registry_recurrent(case: str, num_layers: int, bidirectional: bool):
    from twinmem import registry

    model, activation = RECURRENT_MODELS[case]
    entry = registry.get(model)
    overrides = {"input_size": H_IN, "hidden_size": H, "num_layers": num_layers, "bidirectional": bidirectional}
    if activation:
        overrides["activation"] = activation
    config = entry.make_config(**overrides)
    return model, entry, config, entry.random_weights(config, seed=num_layers)


@pytest.mark.parametrize("case, num_layers, bidirectional", _RECURRENT_GRID)
def test_canonical_to_torch_computes_the_registry_twin(case, num_layers, bidirectional):
    need("torch")
    import torch

    from twinmem import interop

    model, entry, config, weights = _registry_recurrent(case, num_layers, bidirectional)
    x = np.random.default_rng(0).standard_normal((N, L, H_IN)).astype(np.float32)
    expected = entry.build("torch", config, weights=weights)(x=torch.as_tensor(x))  # (output, h_n[, c_n])
    module = interop.canonical_to_torch(model, config, weights)
    out, states = module(torch.as_tensor(x))
    for got, want in zip((out, *_states(states)), expected, strict=True):
        _close(_np(got), _np(want))
    # Back to canonical: permutations and transposes, and b + 0 for the torch bias pair.
    name, back_config, back = interop.torch_to_canonical(module)
    assert name == model and back_config == config and sorted(back) == sorted(weights)
    for n, w in weights.items():
        np.testing.assert_array_equal(back[n], w.astype(np.float32), err_msg=n)


@pytest.mark.parametrize("case, num_layers, bidirectional", _RECURRENT_GRID)
def test_canonical_to_keras_computes_the_registry_twin(case, num_layers, bidirectional):
    need("tf")
    from twinmem import interop

    model, entry, config, weights = _registry_recurrent(case, num_layers, bidirectional)
    x = np.random.default_rng(0).standard_normal((N, L, H_IN)).astype(np.float32)
    expected = entry.build("tf", config, weights=weights)(x=x)  # (output, h_n[, c_n])
    layer = interop.canonical_to_keras(model, config, weights)
    _close(layer(x), _np(expected[0]))  # the whole output sequence, batch-major
    k_out, k_states = interop.keras_call_like_torch(layer, x)
    for got, want in zip((k_out, *_states(k_states)), expected, strict=True):
        _close(got, _np(want))
    name, back_config, back = interop.keras_to_canonical(layer)
    assert name == model and back_config == config and sorted(back) == sorted(weights)
    for n, w in weights.items():
        np.testing.assert_array_equal(back[n], w.astype(np.float32), err_msg=n)


@pytest.mark.parametrize("case, num_layers, bidirectional", _RECURRENT_GRID)
def test_torch_to_canonical_and_back(case, num_layers, bidirectional):
    need("torch")
    import torch

    from twinmem import interop, registry

    model, activation = RECURRENT_MODELS[case]
    torch.manual_seed(0)
    options = {"nonlinearity": activation} if activation else {}
    module = getattr(torch.nn, {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}[model])(
        H_IN, H, num_layers=num_layers, bidirectional=bidirectional, **options
    )
    with torch.no_grad():  # biases of order one, so a dropped or misplaced bias shows
        for n, p in module.named_parameters():
            if n.startswith("bias"):
                p.normal_(0.0, 0.5)
    name, config, weights = interop.torch_to_canonical(module)
    assert name == model and config.num_layers == num_layers and config.bidirectional == bidirectional
    x = torch.randn(N, L, H_IN)
    out, states = module(x.transpose(0, 1))  # batch_first=False: the canonical side is batch-major
    twin = registry.get(name).build("torch", config, weights=weights)
    for got, want in zip(twin(x=x), (out.transpose(0, 1), *_states(states)), strict=True):
        _close(_np(got), _np(want))
    back = interop.canonical_to_torch(name, config, weights)
    assert back.batch_first and not back.training
    state, back_state = module.state_dict(), back.state_dict()
    assert sorted(back_state) == sorted(state)
    for n, t in state.items():
        if model != "gru" and n.startswith("bias"):  # one canonical bias: b_ih + b_hh (a float sum), b_hh = 0
            ih = n.replace("bias_hh", "bias_ih")
            if n.startswith("bias_hh"):
                assert not back_state[n].any()
                _close(_np(back_state[ih]), _np(state[ih] + t))
        else:  # transposes and the GRU's gate permutation: bit-exact
            np.testing.assert_array_equal(_np(back_state[n]), _np(t), err_msg=n)


def test_no_bias_becomes_zero_canonical_biases():
    need("tf")
    need("torch")
    import torch

    from twinmem import interop

    for module in (torch.nn.GRU(H_IN, H, bias=False), torch.nn.LSTM(H_IN, H, bias=False)):
        _, _, weights = interop.torch_to_canonical(module)
        assert not weights["cells.0.b"].any()
        _, _, from_keras = interop.keras_to_canonical(interop.torch_to_keras(module))
        for n, w in weights.items():
            np.testing.assert_array_equal(from_keras[n], w, err_msg=n)
    mha = torch.nn.MultiheadAttention(8, 2, bias=False)
    _, config, weights = interop.torch_to_canonical(mha)
    assert config.head_dim == 4 and not any(weights[n].any() for n in ("b_q", "b_k", "b_v", "b_o"))


def test_canonical_to_builtin_checks_its_arguments():
    need("torch")
    from twinmem import interop, registry

    entry = registry.get("lstm")
    config = entry.make_config()
    weights = entry.random_weights(config)
    with pytest.raises(ValueError, match="missing 'cells.0.b'"):
        interop.canonical_to_torch("lstm", config, {n: w for n, w in weights.items() if n != "cells.0.b"})
    with pytest.raises(TypeError, match="Expected a GRUConfig"):
        interop.canonical_to_torch("gru", config, weights)
    with pytest.raises(ValueError, match="rnn, lstm, gru, multi_head_attention"):
        interop.canonical_to_torch("rnn_classifier", config, weights)
    with pytest.raises(ValueError, match="'torch' or 'tf'"):
        interop.recurrent_builtin("lstm", config, weights, "jax")
