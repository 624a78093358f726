"""Variants the converters do not carry are refused, or warned (training only), never converted silently.

One table: each row builds a layer variant, converts it, and expects one of

* ``refuse``: the converter raises the error class with a message matching the regex;
* ``warn``: a UserWarning matching the regex, and the converted layer computes what the original does
  (what is not carried acts in training only);
* ``agree``: no warning, and the converted layer computes what the original does.

The plain rows (``agree``) make sure the table can fail: they are the supported layers, converted.
"""

import re
import warnings

import numpy as np
import pytest
from conftest import need
from interop_helpers import H_IN, H, L, N, _close, _np

E = 8  # attention width: 2 heads of 4
_KERAS_IDS = [
    "Dense",
    "Dense int8",
    "Dense mixed_float16",
    "Dense mixed_bfloat16",
    "Dense regularizer",
    "Dense constraint",
    "Dense frozen",
    "LSTM",
    "LSTM keras.ops.tanh",
    "LSTM user tanh",
    "LSTM user sigmoid",
    "LSTM subclass",
    "LSTM mixed_float16",
    "LSTM dropout",
    "LSTM constraint",
    "Sequential subclass",
    "Bidirectional subclass",
    "MultiHeadAttention",
    "MultiHeadAttention dropout",
    "MultiHeadAttention subclass",
    "MultiHeadAttention int8 query",
    "MultiHeadAttention mixed_bfloat16",
    "Embedding",
    "Embedding regularizer",
]  # the rows of _keras_rows, by id (collected without importing the frameworks)
_TORCH_IDS = [
    "nn.LSTM",
    "nn.LSTM subclass",
    "nn.LSTM dropout",
    "nn.GRU",
    "quantized LSTM",
    "nn.Linear",
    "nn.Linear subclass",
    "nn.Linear forward hook",
    "nn.Linear weight_norm",
    "nn.Linear frozen bias",
    "nn.MultiheadAttention",
    "nn.MultiheadAttention dropout",
    "nn.MultiheadAttention subclass",
    "nn.Embedding",
    "nn.Embedding padding_idx",
    "nn.Embedding scale_grad_by_freq",
    "nn.Embedding sparse",
    "nn.Embedding max_norm",
]  # the rows of _torch_rows, by id (collected without importing the frameworks)
_CANONICAL_IDS = [
    "nn.GRU subclass",
    "GRU subclass",
    "GRU mixed_float16",
    "MultiHeadAttention int8 value",
    "GRU user tanh",
    "GRU dropout",
]  # the rows of _canonical_rows, by id (collected without importing the frameworks)


def _user_tanh(x):
    """Not tanh, though named so: what a converter matching ``__name__`` would take for it."""
    import keras

    return keras.ops.tanh(x) * 0.5


_user_tanh.__name__ = _user_tanh.__qualname__ = "tanh"


def _table(rows: list[tuple]) -> dict[str, tuple]:
    """Rows by their id (the first field); the ids are unique."""
    table = {row[0]: row[1:] for row in rows}
    assert len(table) == len(rows), "duplicate row ids"
    return table


def _built(layer, *shapes):
    layer.build(*shapes)
    return layer


def _keras_rows():
    """(id, layer builder, input kind, expected) for keras_to_torch."""
    import keras

    layers = keras.layers

    class CallOverridingLSTM(layers.LSTM):
        def call(self, sequences, initial_state=None, mask=None, training=False):
            return super().call(sequences, initial_state, mask, training) * 2.0

    class CallOverridingMHA(layers.MultiHeadAttention):
        def call(self, query, value, key=None, **kwargs):
            return super().call(query, value, key, **kwargs) + 1.0

    class CallOverridingSequential(keras.Sequential):
        def call(self, inputs, training=None, mask=None):
            return super().call(inputs, training=training, mask=mask) * 2.0

    class CallOverridingBidirectional(layers.Bidirectional):
        def call(self, *args, **kwargs):
            return super().call(*args, **kwargs) * 2.0

    def seq_lstm(**options):
        return lambda: _built(layers.LSTM(H, return_sequences=True, **options), (N, L, H_IN))

    def mha(**options):
        return lambda: _built(layers.MultiHeadAttention(2, E // 2, **options), (N, L, E), (N, L, E))

    def dense(**options):
        return lambda: _built(layers.Dense(H, **options), (None, H_IN))

    def quantized_dense():
        layer = dense()()
        layer.quantize("int8")
        return layer

    def quantized_mha():
        layer = mha()()
        layer.query_dense.quantize("int8")  # a sub-layer only: Keras' MultiHeadAttention has no quantize
        return layer

    def frozen_dense():
        layer = dense()()
        layer.trainable = False
        return layer

    def subclassed_sequential():
        stack = CallOverridingSequential([layers.LSTM(H, return_sequences=True)])
        return _built(stack, (N, L, H_IN))

    def subclassed_bidirectional():
        return _built(CallOverridingBidirectional(layers.GRU(H, return_sequences=True)), (N, L, H_IN))

    refuse_subclass = ("refuse", TypeError, "subclass of")
    return _table([
        ("Dense", dense(), "vec", ("agree",)),
        ("Dense int8", quantized_dense, "vec", ("refuse", ValueError, "quantized.*int8")),
        ("Dense mixed_float16", dense(dtype="mixed_float16"), "vec", ("refuse", ValueError, "mixed_float16")),
        ("Dense mixed_bfloat16", dense(dtype="mixed_bfloat16"), "vec", ("refuse", ValueError, "mixed_bfloat16")),
        ("Dense regularizer", dense(kernel_regularizer="l2"), "vec", ("warn", "kernel_regularizer")),
        ("Dense constraint", dense(bias_constraint="non_neg"), "vec", ("warn", "bias_constraint")),
        ("Dense frozen", frozen_dense, "vec", ("warn", "trainable=False")),
        ("LSTM", seq_lstm(), "seq", ("agree",)),
        ("LSTM keras.ops.tanh", seq_lstm(activation=keras.ops.tanh), "seq", ("agree",)),
        ("LSTM user tanh", seq_lstm(activation=_user_tanh), "seq", ("refuse", ValueError, "not Keras' own")),
        ("LSTM user sigmoid", seq_lstm(recurrent_activation=_user_tanh), "seq", ("refuse", ValueError, "recurrent_")),
        ("LSTM subclass", lambda: _built(CallOverridingLSTM(H, return_sequences=True), (N, L, H_IN)), "seq", refuse_subclass),
        ("LSTM mixed_float16", seq_lstm(dtype="mixed_float16"), "seq", ("refuse", ValueError, "mixed_float16")),
        ("LSTM dropout", seq_lstm(dropout=0.2, recurrent_dropout=0.1), "seq", ("warn", "recurrent_dropout")),
        ("LSTM constraint", seq_lstm(recurrent_constraint="non_neg"), "seq", ("warn", "recurrent_constraint")),
        ("Sequential subclass", subclassed_sequential, "seq", refuse_subclass),
        ("Bidirectional subclass", subclassed_bidirectional, "seq", refuse_subclass),
        ("MultiHeadAttention", mha(), "mha", ("agree",)),
        ("MultiHeadAttention dropout", mha(dropout=0.5), "mha", ("agree",)),  # carried; same in training
        ("MultiHeadAttention subclass", lambda: _built(CallOverridingMHA(2, E // 2), (N, L, E), (N, L, E)), "mha", refuse_subclass),
        ("MultiHeadAttention int8 query", quantized_mha, "mha", ("refuse", ValueError, "quantized.*int8")),
        ("MultiHeadAttention mixed_bfloat16", mha(dtype="mixed_bfloat16"), "mha", ("refuse", ValueError, "mixed_bfloat16")),
        ("Embedding", lambda: _built(layers.Embedding(11, H), None), "ids", ("agree",)),
        ("Embedding regularizer", lambda: _built(layers.Embedding(11, H, embeddings_regularizer="l2"), None), "ids", ("warn", "embeddings_regularizer")),
    ])  # fmt: skip


def _torch_rows():
    """(id, module builder, input kind, expected) for torch_to_keras."""
    import torch

    nn = torch.nn

    class ForwardOverridingLSTM(nn.LSTM):
        def forward(self, x, hx=None):
            output, state = super().forward(x, hx)
            return output * 2.0, state

    class ForwardOverridingLinear(nn.Linear):
        def forward(self, x):
            return super().forward(x).relu()

    class ForwardOverridingMHA(nn.MultiheadAttention):
        def forward(self, *args, **kwargs):
            out, weights = super().forward(*args, **kwargs)
            return out + 1.0, weights

    def hooked_linear():
        module = nn.Linear(H_IN, H)
        module.register_forward_hook(lambda m, args, out: out * 2.0)
        return module

    def parametrized_linear():
        return nn.utils.parametrizations.weight_norm(nn.Linear(H_IN, H))

    def frozen_linear():
        module = nn.Linear(H_IN, H)
        module.bias.requires_grad_(False)
        return module

    refuse_subclass = ("refuse", TypeError, "subclass of")
    return _table([
        ("nn.LSTM", lambda: nn.LSTM(H_IN, H, batch_first=True), "seq", ("agree",)),
        ("nn.LSTM subclass", lambda: ForwardOverridingLSTM(H_IN, H, batch_first=True), "seq", refuse_subclass),
        ("nn.LSTM dropout", lambda: nn.LSTM(H_IN, H, num_layers=2, dropout=0.3, batch_first=True), "seq", ("warn", "dropout=0.3")),
        ("nn.GRU", lambda: nn.GRU(H_IN, H, batch_first=True, bidirectional=True), "seq", ("agree",)),
        ("quantized LSTM", lambda: torch.ao.nn.quantized.dynamic.LSTM(H_IN, H, batch_first=True), "seq", ("refuse", TypeError, "quantized")),
        ("nn.Linear", lambda: nn.Linear(H_IN, H), "vec", ("agree",)),
        ("nn.Linear subclass", lambda: ForwardOverridingLinear(H_IN, H), "vec", refuse_subclass),
        ("nn.Linear forward hook", hooked_linear, "vec", ("refuse", ValueError, "forward hooks")),
        ("nn.Linear weight_norm", parametrized_linear, "vec", ("refuse", TypeError, "ParametrizedLinear")),
        ("nn.Linear frozen bias", frozen_linear, "vec", ("warn", "requires_grad=False")),
        ("nn.MultiheadAttention", lambda: nn.MultiheadAttention(E, 2, batch_first=True), "mha", ("agree",)),
        ("nn.MultiheadAttention dropout", lambda: nn.MultiheadAttention(E, 2, dropout=0.5, batch_first=True), "mha", ("agree",)),
        ("nn.MultiheadAttention subclass", lambda: ForwardOverridingMHA(E, 2, batch_first=True), "mha", refuse_subclass),
        ("nn.Embedding", lambda: nn.Embedding(11, H), "ids", ("agree",)),
        ("nn.Embedding padding_idx", lambda: nn.Embedding(11, H, padding_idx=0), "ids", ("warn", "padding_idx")),
        ("nn.Embedding scale_grad_by_freq", lambda: nn.Embedding(11, H, scale_grad_by_freq=True), "ids", ("warn", "scale_grad_by_freq")),
        ("nn.Embedding sparse", lambda: nn.Embedding(11, H, sparse=True), "ids", ("warn", "sparse")),
        ("nn.Embedding max_norm", lambda: nn.Embedding(11, H, max_norm=1.0), "ids", ("refuse", ValueError, "max_norm")),
    ])  # fmt: skip


def _input(kind: str) -> np.ndarray:
    rng = np.random.default_rng(0)
    if kind == "ids":
        return rng.integers(0, 11, size=(N, L))
    shape = {"seq": (N, L, H_IN), "vec": (N, H_IN), "mha": (N, L, E)}[kind]
    return rng.standard_normal(shape).astype(np.float32)


def _keras_out(layer, x, kind):
    return _np(layer(x, x) if kind == "mha" else layer(x))


def _torch_out(module, x, kind):
    import torch

    t = torch.as_tensor(x)
    with torch.no_grad():
        if kind == "mha":
            return _np(module(t, t, t, need_weights=False)[0])
        out = module(t)
        return _np(out[0] if isinstance(out, tuple) else out)


def _check(expected, convert, original_out, converted_out):
    """Convert as the row expects: refused with its message, or agreeing (with the warning it names, or none)."""
    if expected[0] == "refuse":
        _, error, pattern = expected
        with pytest.raises(error, match=pattern):
            convert()
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        converted = convert()
    # The converters' warnings point at the line that called them (stacklevel): this file. Keras' own do not.
    ours = [str(w.message) for w in caught if issubclass(w.category, UserWarning) and w.filename == __file__]
    if expected[0] == "warn":
        assert any(re.search(expected[1], m) for m in ours), (expected[1], ours)
    else:
        assert not ours, ours
    _close(converted_out(converted), original_out())


@pytest.mark.parametrize("row", _KERAS_IDS)
def test_keras_to_torch_refuses_or_agrees(row):
    need("tf")
    need("torch")
    from twinmem import interop

    rows = _keras_rows()
    assert list(rows) == _KERAS_IDS, "the ids parametrized are the table's"
    build, kind, expected = rows[row]
    layer = build()
    x = _input(kind)
    _check(
        expected,
        lambda: interop.keras_to_torch(layer),
        lambda: _keras_out(layer, x, kind),
        lambda module: _torch_out(module, x, kind),
    )


@pytest.mark.parametrize("row", _TORCH_IDS)
def test_torch_to_keras_refuses_or_agrees(row):
    need("tf")
    need("torch")
    from twinmem import interop

    rows = _torch_rows()
    assert list(rows) == _TORCH_IDS, "the ids parametrized are the table's"
    build, kind, expected = rows[row]
    module = build().train(False)
    x = _input(kind)
    _check(
        expected,
        lambda: interop.torch_to_keras(module),
        lambda: _torch_out(module, x, kind),
        lambda layer: _keras_out(layer, x, kind),
    )


def _canonical_rows():
    """(id, builder, expected) for torch_to_canonical and keras_to_canonical: the same refusals."""
    import keras
    import torch

    class ForwardOverridingGRU(torch.nn.GRU):
        def forward(self, x, hx=None):
            output, state = super().forward(x, hx)
            return -output, state

    class CallOverridingGRU(keras.layers.GRU):
        def call(self, *args, **kwargs):
            return -super().call(*args, **kwargs)

    return _table(
        [
            ("nn.GRU subclass", lambda: ForwardOverridingGRU(H_IN, H), ("refuse", TypeError, "subclass of GRU")),
            (
                "GRU subclass",
                lambda: _built(CallOverridingGRU(H), (N, L, H_IN)),
                ("refuse", TypeError, "subclass of GRU"),
            ),
            (
                "GRU mixed_float16",
                lambda: _built(keras.layers.GRU(H, dtype="mixed_float16"), (N, L, H_IN)),
                ("refuse", ValueError, "mixed_float16"),
            ),
            (
                "MultiHeadAttention int8 value",
                lambda: _quantized_value(_built(keras.layers.MultiHeadAttention(2, 4), (N, L, E), (N, L, E))),
                ("refuse", ValueError, "quantized"),
            ),
            (
                "GRU user tanh",
                lambda: _built(keras.layers.GRU(H, activation=_user_tanh), (N, L, H_IN)),
                ("refuse", ValueError, "not Keras' own"),
            ),
            ("GRU dropout", lambda: _built(keras.layers.GRU(H, dropout=0.5), (N, L, H_IN)), ("warn", "dropout")),
        ]
    )


def _quantized_value(layer):
    layer.value_dense.quantize("int8")
    return layer


@pytest.mark.parametrize("row", _CANONICAL_IDS)
def test_to_canonical_refuses_what_it_cannot_carry(row):
    need("tf")
    need("torch")
    import torch

    from twinmem import interop

    rows = _canonical_rows()
    assert list(rows) == _CANONICAL_IDS, "the ids parametrized are the table's"
    build, expected = rows[row]
    layer = build()
    convert = interop.torch_to_canonical if isinstance(layer, torch.nn.Module) else interop.keras_to_canonical
    if expected[0] == "refuse":
        with pytest.raises(expected[1], match=expected[2]):
            convert(layer)
    else:
        with pytest.warns(UserWarning, match=expected[1]):
            convert(layer)
