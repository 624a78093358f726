"""The converters between torch's and Keras' built-in layers carry the function, not just the numbers.

Every option combination of the recurrent layers both ways, attention, Linear / Dense and
Embedding: the converted layer agrees with the original on random inputs, its final states
included; what the other side cannot express is refused with a ValueError naming the option;
and ``twinmem convert`` round-trips the weight files. The canonical weights of the registry's
``rnn`` / ``lstm`` / ``gru`` / ``multi_head_attention`` load into the built-ins, which then compute
what the registry twin computes, and come back from them exactly (``twinmem convert --to canonical``
/ ``--from canonical`` too).
"""

import argparse
import dataclasses
import itertools
import json

import numpy as np
import pytest
from conftest import need

from twinmem.parity import TOLERANCES

N, L, H_IN, H = 3, 6, 5, 4  # batch, steps, input size, hidden size


def _close(a, b, dtype="float32") -> None:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    err = np.max(np.abs(a - b))
    assert err <= TOLERANCES[dtype] * max(np.max(np.abs(b)), 1.0), err


def _np(t):
    return t.detach().numpy() if hasattr(t, "detach") else np.asarray(t)


def _states(s) -> tuple:
    return s if isinstance(s, tuple) else (s,)


TORCH_KINDS = {"rnn_tanh": ("RNN", "tanh"), "rnn_relu": ("RNN", "relu"), "lstm": ("LSTM", None), "gru": ("GRU", None)}


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


def _keras_refusals():
    import keras

    layers = keras.layers
    bi = layers.Bidirectional
    return {
        "reset_after": layers.GRU(H, reset_after=False),
        "go_backwards": layers.LSTM(H, go_backwards=True),
        "stateful": layers.SimpleRNN(H, stateful=True),
        "activation": layers.SimpleRNN(H, activation="sigmoid"),
        "recurrent_activation": layers.LSTM(H, recurrent_activation="hard_sigmoid"),
        "merge_mode": bi(layers.GRU(H, return_sequences=True), merge_mode="sum"),
        "use_bias": keras.Sequential(
            [layers.LSTM(H, return_sequences=True), layers.LSTM(H, use_bias=False, return_sequences=True)]
        ),
        "units": keras.Sequential([layers.GRU(H, return_sequences=True), layers.GRU(H + 1, return_sequences=True)]),
        "bidirectional": keras.Sequential(
            [bi(layers.GRU(H, return_sequences=True)), layers.GRU(H, return_sequences=True)]
        ),
        "kind": keras.Sequential([layers.GRU(H, return_sequences=True), layers.LSTM(H, return_sequences=True)]),
        "key_dim != value_dim": layers.MultiHeadAttention(2, 4, value_dim=3),
        "output_shape": layers.MultiHeadAttention(2, 4, output_shape=5),
        "num_heads * key_dim": layers.MultiHeadAttention(2, 3),
        "Dense activation": layers.Dense(H, activation="relu"),
    }


_KERAS_REFUSALS = [
    "reset_after",
    "go_backwards",
    "stateful",
    "activation",
    "recurrent_activation",
    "merge_mode",
    "use_bias",
    "units",
    "bidirectional",
    "kind",
    "key_dim != value_dim",
    "output_shape",
    "num_heads * key_dim",
    "Dense activation",
]
# What each error must name: the option, or the words that say which layers differ.
_NAMED = {"bidirectional": "directional", "kind": "one torch module runs one kind", "Dense activation": "activation"}


@pytest.mark.parametrize("option", _KERAS_REFUSALS)
def test_keras_to_torch_refuses_what_torch_cannot_express(option):
    need("tf")
    need("torch")
    from twinmem import interop

    layer = _keras_refusals()[option]
    if "key_dim" in option or "output_shape" in option:
        layer.build((None, L, 8), (None, L, 8))
    elif "Dense" in option:
        layer.build((None, H_IN))
    else:
        layer.build((N, L, H_IN))
    with pytest.raises(ValueError, match=_NAMED.get(option, option).replace("*", r"\*")):
        interop.keras_to_torch(layer)


def test_keras_to_torch_refuses_an_unbuilt_layer():
    need("tf")
    need("torch")
    import keras

    from twinmem import interop

    with pytest.raises(ValueError, match="not built"):
        interop.keras_to_torch(keras.layers.LSTM(H))


@pytest.mark.parametrize("option", ["proj_size", "add_bias_kv", "add_zero_attn", "max_norm"])
def test_torch_to_keras_refuses_what_keras_cannot_express(option):
    need("tf")
    need("torch")
    import torch

    from twinmem import interop

    module = {
        "proj_size": lambda: torch.nn.LSTM(H_IN, H, proj_size=2),
        "add_bias_kv": lambda: torch.nn.MultiheadAttention(8, 2, add_bias_kv=True),
        "add_zero_attn": lambda: torch.nn.MultiheadAttention(8, 2, add_zero_attn=True),
        "max_norm": lambda: torch.nn.Embedding(11, H, max_norm=1.0),
    }[option]()
    with pytest.raises(ValueError, match=option):
        interop.torch_to_keras(module)


# --- twinmem convert ------------------------------------------------------------------------

_CLI_CASES = {
    "lstm": (
        lambda nn: nn.LSTM(8, 16, num_layers=2, bidirectional=True),
        "--layer lstm --input-size 8 --hidden-size 16 --num-layers 2 --bidirectional",
    ),
    "gru": (lambda nn: nn.GRU(5, 4, bias=False), "--layer gru --input-size 5 --hidden-size 4 --no-bias"),
    "rnn": (
        lambda nn: nn.RNN(5, 4, num_layers=2, nonlinearity="relu"),
        "--layer rnn --input-size 5 --hidden-size 4 --num-layers 2 --nonlinearity relu",
    ),
    "mha": (
        lambda nn: nn.MultiheadAttention(8, 2, kdim=3, vdim=7),
        "--layer mha --embed-dim 8 --num-heads 2 --kdim 3 --vdim 7",
    ),
    "linear": (lambda nn: nn.Linear(5, 4), "--layer linear --in-features 5 --out-features 4"),
    "embedding": (lambda nn: nn.Embedding(11, 4), "--layer embedding --num-embeddings 11 --embedding-dim 4"),
}


def _save_state_dict(module, path) -> dict:
    from safetensors.numpy import save_file

    state = {n: p.detach().numpy() for n, p in module.state_dict().items()}
    save_file(state, str(path))
    return state


@pytest.mark.parametrize("case", list(_CLI_CASES))
def test_convert_command_round_trips_and_matches_the_layer_converter(case, tmp_path):
    need("tf")
    need("torch")
    import torch
    from safetensors.numpy import load_file

    from twinmem import convert, interop

    torch.manual_seed(0)
    make, options = _CLI_CASES[case]
    module = make(torch.nn)
    state = _save_state_dict(module, tmp_path / "torch.safetensors")
    argv = options.split()
    assert (
        convert.main(
            [
                "--from",
                "torch",
                "--to",
                "keras",
                *argv,
                str(tmp_path / "torch.safetensors"),
                str(tmp_path / "keras.safetensors"),
            ]
        )
        == 0
    )
    keras_file = load_file(str(tmp_path / "keras.safetensors"))
    layer = interop.torch_to_keras(module, name=case)  # the names are the Keras variable paths
    assert sorted(keras_file) == sorted(v.path for v in layer.weights)
    for v in layer.weights:
        np.testing.assert_array_equal(keras_file[v.path], np.asarray(v.numpy()), err_msg=v.path)
    assert (
        convert.main(
            ["--from", "keras", *argv, str(tmp_path / "keras.safetensors"), str(tmp_path / "back.safetensors")]
        )
        == 0
    )
    back = load_file(str(tmp_path / "back.safetensors"))
    assert sorted(back) == sorted(state)
    for n, t in state.items():
        if n.startswith("bias_hh") and case in ("lstm", "rnn"):  # Keras holds one bias: b_ih + b_hh, b_hh = 0
            ih = n.replace("bias_hh", "bias_ih")
            _close(back[ih] + back[n], state[ih] + t)
            assert not back[n].any()
        elif not n.startswith("bias_ih") or case not in ("lstm", "rnn"):
            np.testing.assert_array_equal(back[n], t, err_msg=n)


def _namespace(options: str, source: str = "torch") -> argparse.Namespace:
    from twinmem import convert

    parser = argparse.ArgumentParser()
    convert.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["convert", "--from", source, *options.split(), "IN", "OUT"])


def test_convert_names_missing_extra_and_misshaped_tensors():
    need("tf")
    need("torch")
    import torch

    from twinmem import convert

    state = {n: p.detach().numpy() for n, p in torch.nn.LSTM(8, 16).state_dict().items()}
    args = _namespace("--layer lstm --input-size 8 --hidden-size 16")
    with pytest.raises(ValueError, match=r"missing 'bias_hh_l0' \(expected shape \(64,\)\)"):
        convert.convert_tensors({n: t for n, t in state.items() if n != "bias_hh_l0"}, args)
    with pytest.raises(ValueError, match="unexpected 'extra'"):
        convert.convert_tensors({**state, "extra": state["bias_hh_l0"]}, args)
    with pytest.raises(ValueError, match=r"'weight_ih_l0' expected shape \(64, 8\), received \(64, 5\)"):
        convert.convert_tensors({**state, "weight_ih_l0": np.zeros((64, 5), np.float32)}, args)
    with pytest.raises(ValueError, match="missing 'lstm/lstm_cell/kernel'"):
        convert.convert_tensors(state, _namespace("--layer lstm --input-size 8 --hidden-size 16", source="keras"))
    with pytest.raises(ValueError, match="--layer lstm needs --hidden-size"):
        convert.convert_tensors(state, _namespace("--layer lstm --input-size 8"))


def test_convert_reads_only_safetensors(tmp_path):
    need("tf")
    need("torch")
    from twinmem import convert

    bogus = tmp_path / "weights.pt"
    bogus.write_bytes(b"\x80\x04not a safetensors file")  # a pickle's first bytes
    argv = [
        "--from",
        "torch",
        "--layer",
        "linear",
        "--in-features",
        "5",
        "--out-features",
        "4",
        str(bogus),
        str(tmp_path / "o"),
    ]
    assert convert.main(argv) == 2
    assert not (tmp_path / "o").exists()


# --- canonical weights of registry models <-> built-in layers -------------------------------

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


def _canonical_refusals():
    import keras
    import torch

    def keras_gru():
        layer = keras.layers.GRU(H, reset_after=False)
        layer.build((None, None, H_IN))
        return layer

    def keras_mha():
        layer = keras.layers.MultiHeadAttention(2, 3, value_dim=4)
        layer.build((None, None, 6), (None, None, 6))
        return layer

    return {
        "proj_size": lambda: torch.nn.LSTM(H_IN, H, proj_size=2),
        "kdim": lambda: torch.nn.MultiheadAttention(8, 2, kdim=3),
        "add_bias_kv": lambda: torch.nn.MultiheadAttention(8, 2, add_bias_kv=True),
        "reset_after": keras_gru,
        "key_dim != value_dim": keras_mha,
    }


@pytest.mark.parametrize("option", ["proj_size", "kdim", "add_bias_kv", "reset_after", "key_dim != value_dim"])
def test_to_canonical_refuses_what_the_canonical_layout_cannot_express(option):
    need("tf")
    need("torch")
    import torch

    from twinmem import interop

    layer = _canonical_refusals()[option]()
    convert = interop.torch_to_canonical if isinstance(layer, torch.nn.Module) else interop.keras_to_canonical
    with pytest.raises(ValueError, match=option):
        convert(layer)


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


_CANONICAL_CLI_CASES = {
    "lstm": (
        lambda nn: nn.LSTM(8, 16, num_layers=2, bidirectional=True),
        "--layer lstm --input-size 8 --hidden-size 16 --num-layers 2 --bidirectional",
    ),
    "gru": (lambda nn: nn.GRU(5, 4, bias=False), "--layer gru --input-size 5 --hidden-size 4 --no-bias"),
    "mha": (lambda nn: nn.MultiheadAttention(8, 2), "--layer mha --embed-dim 8 --num-heads 2 --causal"),
}


@pytest.mark.parametrize("case", list(_CANONICAL_CLI_CASES))
def test_convert_command_to_and_from_canonical(case, tmp_path):
    need("tf")
    need("torch")
    import torch

    from twinmem import cli, interop, registry
    from twinmem.weights import load_weights

    torch.manual_seed(0)
    make, options = _CANONICAL_CLI_CASES[case]
    module = make(torch.nn)
    state = _save_state_dict(module, tmp_path / "torch.safetensors")
    files = {n: str(tmp_path / f"{n}.safetensors") for n in ("torch", "canonical", "keras", "again", "back")}
    argv = options.split()
    assert cli.main(["convert", "--from", "torch", "--to", "canonical", *argv, files["torch"], files["canonical"]]) == 0
    weights, metadata = load_weights(files["canonical"])
    model, config, expected = interop.torch_to_canonical(module)
    if "--causal" in argv:
        config = dataclasses.replace(config, causal=True)
    entry = registry.get(model)
    assert metadata["twinmem.model"] == model
    assert entry.config(**json.loads(metadata["twinmem.config"])) == config
    for n, w in expected.items():
        np.testing.assert_array_equal(weights[n], w, err_msg=n)
    if model != "multi_head_attention":  # the file loads into the TF twin and computes the module
        twin = entry.build("tf", config)
        twin.load_canonical(files["canonical"])
        x = np.random.default_rng(0).standard_normal((N, L, config.input_size)).astype(np.float32)
        out, _ = module(torch.as_tensor(x).transpose(0, 1))
        _close(twin(x=x)[0], _np(out.transpose(0, 1)))
    # canonical -> Keras (the paths --from torch --to keras writes) -> canonical: bit-exact
    assert cli.main(["convert", "--from", "canonical", "--to", "keras", files["canonical"], files["keras"]]) == 0
    with_bias = [a for a in argv if a != "--no-bias"]  # from canonical the layer has (zero) biases
    assert (
        cli.main(["convert", "--from", "keras", "--to", "canonical", *with_bias, files["keras"], files["again"]]) == 0
    )
    again, again_metadata = load_weights(files["again"])
    assert again_metadata == metadata
    for n, w in weights.items():
        np.testing.assert_array_equal(again[n], w, err_msg=n)
    # canonical -> torch: the state_dict back (an LSTM's bias pair summed into bias_ih, none here for the GRU)
    assert cli.main(["convert", "--from", "canonical", "--to", "torch", files["canonical"], files["back"]]) == 0
    back, _ = load_weights(files["back"])
    if case == "gru":  # no biases in torch, zero biases in the canonical layout: torch gets them back
        assert not any(back[n].any() for n in back if n.startswith("bias"))
        back = {n: t for n, t in back.items() if not n.startswith("bias")}
    assert sorted(back) == sorted(state)
    for n, t in state.items():
        if case == "lstm" and n.startswith("bias_hh"):
            ih = n.replace("bias_hh", "bias_ih")
            np.testing.assert_array_equal(back[ih], weights[f"cells.{_cell_of(n)}.b"])
            _close(back[ih], state[ih] + t)
            assert not back[n].any()
        elif not (case == "lstm" and n.startswith("bias_ih")):
            np.testing.assert_array_equal(back[n], t, err_msg=n)


def _cell_of(torch_name: str, num_directions: int = 2) -> int:
    """bias_hh_l1_reverse -> canonical cell 3 (k = layer * num_directions + direction)."""
    layer = int(torch_name.split("_l")[1].split("_")[0])
    return layer * num_directions + torch_name.endswith("_reverse")


def test_convert_canonical_needs_a_model_and_checks_it(tmp_path):
    need("tf")
    need("torch")
    from safetensors.numpy import save_file

    from twinmem import cli, registry
    from twinmem.weights import save_weights

    entry = registry.get("gru")
    config = entry.make_config(input_size=5, hidden_size=4)
    weights = {n: w.astype(np.float32) for n, w in entry.random_weights(config).items()}
    bare, tagged, out = (str(tmp_path / n) for n in ("bare", "tagged", "out"))
    save_file(weights, bare)
    save_weights(tagged, weights, "gru", config)
    convert = ["convert", "--from", "canonical", "--to", "torch"]
    assert cli.main([*convert, bare, out]) == 2  # no metadata and no --model
    assert cli.main([*convert, "--model", "gru", "--input-size", "5", "--hidden-size", "4", bare, out]) == 0
    assert cli.main([*convert, "--model", "lstm", tagged, out]) == 2  # the file says gru
    assert cli.main([*convert, "--layer", "lstm", tagged, out]) == 2
    assert cli.main(["convert", "--from", "canonical", tagged, out]) == 2  # --to is required
    assert cli.main([*convert, tagged, out]) == 0
