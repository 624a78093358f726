"""What the other side (or the canonical layout) cannot express is refused with a ValueError naming the option.

For every layer kind the converters take: recurrent layers, multi-head attention, Dense and Embedding.
"""

import pytest
from conftest import need
from interop_helpers import H_IN, H, L, N


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
