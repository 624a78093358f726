"""Recurrent layers: canonical cells <-> ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` <-> ``SimpleRNN`` / ``LSTM`` / ``GRU``.

Every layout fact used here (cell order, gate orders, torch's parameter suffixes, Keras' sub-layer
names, the class names on each side, the canonical <-> torch cell conversion) is
``twinmem.layouts.recurrent``'s; this module only applies it. Keras' cell variables
[kernel, recurrent_kernel, bias] *are* the canonical cell [W_ih, W_hh, b], so the Keras side
assigns and reads them as they are.

Layouts, torch -> Keras (one direction d of one layer k; torch's parameter suffix is
``layouts.recurrent.torch_suffix``, H the hidden size):

* torch ``weight_ih`` is (G H, H_in) and ``weight_hh`` (G H, H), out x in; Keras' ``kernel`` is
  (H_in, G H) and ``recurrent_kernel`` (H, G H), in x out: a transpose.
* LSTM gates: torch ``i|f|g|o``, Keras ``i|f|c|o``: the same order. SimpleRNN: one block.
* GRU gates: torch ``r|z|n``, Keras (``reset_after=True``) ``z|r|h``: the first two blocks swap.
  Both apply the reset gate to the recurrent product *with* its bias,
  ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``, and both mix ``h' = (1 - z) n + z h``.
* Biases: torch has ``b_ih`` and ``b_hh``. SimpleRNN and LSTM have one bias, which is their sum
  (going back: the Keras bias into ``b_ih``, zeros into ``b_hh``). Keras' GRU bias is (2, 3 H) =
  [input bias; recurrent bias], the two torch biases with their gates reordered.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from twinmem.configs.rnn import GRUConfig, LSTMConfig, RNNConfig, num_directions
from twinmem.interop.common import _activation_name, _keras_dtype, _need_built, _np, _torch_dtype, _warn
from twinmem.layouts.recurrent import (
    CANONICAL_CELL_NAMES,
    KERAS_CLASSES,
    TORCH_CELL_NAMES,
    TORCH_CLASSES,
    TORCH_MODES,
    bias_shape,
    canonical_to_torch_cell,
    cells,
    keras_layer_name,
    keras_wrapper_name,
    torch_suffix,
    torch_to_canonical_cell,
)


def _make_config(kind: str, activation: str, **options: Any) -> Any:
    """The ``RNNConfig`` / ``LSTMConfig`` / ``GRUConfig`` of a kind; ``activation`` matters to rnn only."""
    if kind == "rnn":
        return RNNConfig(activation=activation, **options)
    return {"lstm": LSTMConfig, "gru": GRUConfig}[kind](**options)


def _torch_kind(module: Any, caller: str) -> str:
    """The kind of a torch ``RNNBase`` module, refusing the modes that have none."""
    kind = TORCH_MODES.get(module.mode)
    if kind is None:
        *first, last = TORCH_MODES
        raise ValueError(f"{caller} converts {', '.join(first)} and {last}. Received: mode={module.mode!r}")
    return kind


def _torch_config(module: Any, kind: str) -> Any:
    """The canonical config of a torch recurrent module, ``dropout`` carried, ``path="explicit"``."""
    activation = module.nonlinearity if kind == "rnn" else "tanh"
    return _make_config(
        kind,
        activation,
        input_size=module.input_size,
        hidden_size=module.hidden_size,
        num_layers=module.num_layers,
        bidirectional=module.bidirectional,
        dropout=float(module.dropout),
    )


def _torch_names(module: Any) -> tuple[str, ...]:
    """torch's parameter names of one cell: the weights, and the biases unless ``bias=False``."""
    return TORCH_CELL_NAMES if module.bias else TORCH_CELL_NAMES[:2]


def _torch_cell(module: Any, kind: str, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cell k of a torch module as the canonical (W_ih, W_hh, b), NumPy; zero b for ``bias=False``."""
    suffix = torch_suffix(k, num_directions(module))
    p = {n: _np(getattr(module, f"{n}{suffix}")) for n in _torch_names(module)}
    return torch_to_canonical_cell(kind, p["weight_ih"], p["weight_hh"], p.get("bias_ih"), p.get("bias_hh"))


def _load_torch_cell(module: Any, kind: str, k: int, W_ih: np.ndarray, W_hh: np.ndarray, b: np.ndarray) -> None:
    """The canonical cell k into a torch module's parameters (``bias=False``: the weights only)."""
    import torch

    suffix = torch_suffix(k, num_directions(module))
    zero_bias = np.zeros(b.shape[-1:], b.dtype)  # torch's bias_hh for rnn and lstm, whose one bias is b
    torch_cell = canonical_to_torch_cell(kind, W_ih, W_hh, b, zero_bias)
    with torch.no_grad():
        for n in _torch_names(module):
            getattr(module, f"{n}{suffix}").copy_(torch.as_tensor(np.ascontiguousarray(torch_cell[n])))


def cell_variables(cell: Any) -> list[Any]:
    """A Keras cell's [kernel, recurrent_kernel(, bias)]: the canonical [W_ih, W_hh, b] as they are."""
    return [cell.kernel, cell.recurrent_kernel] + ([cell.bias] if cell.use_bias else [])


def keras_recurrent_stack(kind: str, config: Any, use_bias: bool, dtype: str, name: str | None) -> tuple[Any, list]:
    """A built Keras stack returning sequences, and its cells in torch's (and the canonical) order.

    Cell k is layer k // D, direction k % D. Names as ``torch_to_keras`` documents them
    (``layouts.recurrent.keras_layer_name`` and ``keras_wrapper_name``).
    """
    import keras

    D = num_directions(config)
    # zero_output_for_mask: Keras 3 defaults to False, repeating the last valid output over the padded
    # steps of a masked call; torch's pad_packed_sequence (and the twins) give zeros there.
    options: dict[str, Any] = {"use_bias": use_bias, "return_sequences": True, "zero_output_for_mask": True}
    options["dtype"] = dtype
    if kind == "rnn":
        options["activation"] = config.activation
    if kind == "gru":
        options["reset_after"] = True  # torch applies the reset gate after the recurrent matmul
    layer_class = getattr(keras.layers, KERAS_CLASSES[kind])
    stack = []
    for k in range(config.num_layers):
        sub_name = None if name is None else keras_layer_name(name, k, config.num_layers)
        layer = layer_class(config.hidden_size, name=sub_name, **options)
        if D == 2:
            wrapper_name = None if sub_name is None else keras_wrapper_name(sub_name)
            layer = keras.layers.Bidirectional(layer, merge_mode="concat", name=wrapper_name, dtype=dtype)
        stack.append(layer)
    out = stack[0] if config.num_layers == 1 else keras.Sequential(stack, name=name)
    out.build((None, None, config.input_size))
    keras_cells = []
    for layer in stack:
        keras_cells += [layer.forward_layer.cell, layer.backward_layer.cell] if D == 2 else [layer.cell]
    return out, keras_cells


def _warn_dropout_between_layers(config: Any, caller: str, what: str, stacklevel: int) -> None:
    """Keras has no dropout between stacked layers; its ``dropout`` (on a cell's input, one mask for the whole
    sequence) is another function in training. So torch's is not carried, and the warning says so."""
    if config.dropout > 0 and config.num_layers > 1:
        _warn(
            f"{caller}: {what}'s dropout={config.dropout} between layers is not carried: Keras has no dropout "
            "between stacked layers (its dropout acts inside a cell, one mask per sequence). Inference agrees, "
            "training differs",
            stacklevel,
        )


# ---------------------------------------------------------------------------------------------
# torch -> Keras, torch -> canonical


def rnn_torch_to_keras(module: Any, name: str | None) -> Any:
    """``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` -> the Keras layer or stack ``torch_to_keras`` documents."""
    kind = _torch_kind(module, "torch_to_keras")
    if getattr(module, "proj_size", 0) > 0:
        raise ValueError(
            "proj_size > 0 (an LSTM with projections) cannot be converted: Keras' LSTM has no "
            f"projection of the hidden state. Received: proj_size={module.proj_size}"
        )
    config = _torch_config(module, kind)
    _warn_dropout_between_layers(config, "torch_to_keras", f"nn.{type(module).__name__}", stacklevel=4)
    out, keras_cells = keras_recurrent_stack(kind, config, module.bias, _keras_dtype(module), name)
    for k, cell in enumerate(keras_cells):
        variables = cell_variables(cell)
        for variable, value in zip(variables, _torch_cell(module, kind, k)[: len(variables)], strict=True):
            variable.assign(value)
    return out


def rnn_torch_to_canonical(module: Any) -> tuple[str, Any, dict[str, np.ndarray]]:
    """``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` -> (kind, config, canonical weights), as ``torch_to_canonical``."""
    kind = _torch_kind(module, "torch_to_canonical")
    if getattr(module, "proj_size", 0) > 0:
        raise ValueError(
            "proj_size > 0 (an LSTM with projections) cannot be converted: the canonical lstm has no "
            f"projection of the hidden state (no W_hr). Received: proj_size={module.proj_size}"
        )
    _keras_dtype(module)  # float32 or float64 only
    config = _torch_config(module, kind)
    weights = {}
    for k, _, _ in cells(module.num_layers, num_directions(module)):
        for n, value in zip(CANONICAL_CELL_NAMES, _torch_cell(module, kind, k), strict=True):
            weights[f"cells.{k}.{n}"] = value
    return kind, config, weights


def keras_call_like_torch(layer: Any, x: Any) -> tuple:
    """Run a Keras recurrent layer and return what torch's recurrent module returns.

    Works on what ``torch_to_keras`` makes from ``nn.RNN`` / ``nn.GRU`` / ``nn.LSTM`` (and on any
    layer ``keras_to_torch`` accepts, as long as every layer returns sequences).

    Args:
        layer: a ``SimpleRNN`` / ``LSTM`` / ``GRU``, a ``Bidirectional`` of one, or a
            ``keras.Sequential`` of those.
        x: (N, L, H_in), batch-major.

    Returns:
        ``(output, h_n)`` for SimpleRNN / GRU and ``(output, (h_n, c_n))`` for LSTM, where
        output is (N, L, D H) and h_n, c_n are (num_layers D, N, H), layer-major then direction
        (forward, backward), as torch's.
    """
    import keras

    stack = layer.layers if isinstance(layer, keras.Sequential) else [layer]
    h, c = [], []
    for sub in stack:
        rnns = [sub, sub.forward_layer, sub.backward_layer] if hasattr(sub, "forward_layer") else [sub]
        saved = [r.return_state for r in rnns]
        # Keras returns the states only when asked at construction; Sequential passes one tensor on, so
        # the stack is run here layer by layer with return_state switched on for the call alone.
        try:
            for r in rnns:
                r.return_state = True
            x, *states = sub(x)
        finally:
            for r, s in zip(rnns, saved, strict=True):
                r.return_state = s
        per_direction = len(states) // (2 if len(rnns) == 3 else 1)  # Bidirectional: forward states, then backward
        for d in range(0, len(states), per_direction):
            h.append(states[d])
            if per_direction == 2:
                c.append(states[d + 1])
    h_n = keras.ops.stack(h)
    return (x, (h_n, keras.ops.stack(c))) if c else (x, h_n)


# ---------------------------------------------------------------------------------------------
# Keras -> torch, Keras -> canonical


def _keras_kind(rnn: Any) -> str:
    import keras

    for kind, class_name in KERAS_CLASSES.items():
        if type(rnn) is getattr(keras.layers, class_name):
            return kind
    raise TypeError(f"Expected a SimpleRNN, LSTM or GRU. Received: {type(rnn).__name__} ({rnn.name!r})")


def _check_keras_rnn(rnn: Any, kind: str, backwards: bool) -> None:
    """Refuse what torch cannot express, naming the option of ``rnn`` and why."""
    import keras

    where = f"{type(rnn).__name__} {rnn.name!r}"
    if rnn.go_backwards != backwards:
        raise ValueError(
            f"{where}: go_backwards=True cannot be converted: torch runs a direction backwards only as "
            "the second half of a bidirectional module, whose output it re-aligns with the input. "
            "Wrap the layer in Bidirectional instead. Received: go_backwards=True"
        )
    if rnn.stateful:
        raise ValueError(
            f"{where}: stateful=True cannot be converted: torch modules keep no state between calls "
            "(pass h_0 explicitly). Received: stateful=True"
        )
    cell = rnn.cell
    cell_class = getattr(keras.layers, f"{KERAS_CLASSES[kind]}Cell")
    if type(cell) is not cell_class:
        raise TypeError(f"{where}: its cell is a {type(cell).__qualname__}; torch computes a {cell_class.__name__}")
    activation = _activation_name(cell.activation)
    allowed = ("tanh", "relu") if kind == "rnn" else ("tanh",)
    if activation not in allowed:
        raise ValueError(
            f"{where}: activation={activation!r} cannot be converted: torch's nn.{TORCH_CLASSES[kind]} only has "
            f"{' or '.join(allowed)}. Received: activation={activation!r}"
        )
    if kind != "rnn":
        recurrent = _activation_name(cell.recurrent_activation)
        if recurrent != "sigmoid":
            raise ValueError(
                f"{where}: recurrent_activation={recurrent!r} cannot be converted: torch's gates are "
                f"always sigmoid. Received: recurrent_activation={recurrent!r}"
            )
    if kind == "gru" and not cell.reset_after:
        raise ValueError(
            f"{where}: reset_after=False cannot be converted: torch's GRU applies the reset gate after "
            "the recurrent matmul, r * (W_hn h + b_hn), and (r * h) W_hn is another function even "
            "without biases. Received: reset_after=False"
        )
    _need_built(rnn)


def keras_recurrent_parts(layer: Any) -> tuple[str, list[Any], dict[str, Any]]:
    """Check a Keras recurrent layer or stack; return (kind, its recurrent layers in cell order k, options).

    Cell k is layer k // D, direction k % D (forward, then the backward half of a Bidirectional). The
    options are torch's: input_size, hidden_size, num_layers, bias, bidirectional, nonlinearity.
    """
    import keras

    stack = list(layer.layers) if isinstance(layer, keras.Sequential) else [layer]
    if not stack:
        raise ValueError(f"Sequential {layer.name!r} has no layers to convert")
    _need_built(layer)
    directions: list[list] = []  # per layer: [forward] or [forward, backward]
    for k, sub in enumerate(stack):
        if type(sub) is keras.layers.Bidirectional:  # exactly: a subclass's overrides are not carried
            if sub.merge_mode != "concat":
                raise ValueError(
                    f"Bidirectional {sub.name!r}: merge_mode={sub.merge_mode!r} cannot be converted: torch "
                    f"concatenates the two directions. Received: merge_mode={sub.merge_mode!r}"
                )
            pair = [sub.forward_layer, sub.backward_layer]
            if type(pair[0]) is not type(pair[1]):
                raise ValueError(
                    f"Bidirectional {sub.name!r}: the backward layer is a {type(pair[1]).__name__}, the "
                    f"forward one a {type(pair[0]).__name__}; torch runs one kind in both directions"
                )
            directions.append(pair)
        elif type(sub) in (keras.layers.SimpleRNN, keras.layers.LSTM, keras.layers.GRU):
            directions.append([sub])
        else:
            raise TypeError(
                f"keras_to_torch converts a Sequential of SimpleRNN / LSTM / GRU / Bidirectional layers "
                f"only. Received: layer {k} {sub.name!r}, a {type(sub).__name__}"
            )
    first = directions[0][0]
    kind = _keras_kind(first)
    D = len(directions[0])
    units, use_bias = first.cell.units, first.cell.use_bias
    activation = _activation_name(first.cell.activation)
    for k, rnns in enumerate(directions):
        if len(rnns) != D:
            raise ValueError(
                f"Layer {k} of {layer.name!r} is {'bi' if len(rnns) == 2 else 'uni'}directional and layer 0 "
                "is not: torch's bidirectional applies to every layer"
            )
        for d, rnn in enumerate(rnns):
            if _keras_kind(rnn) != kind:
                raise ValueError(
                    f"Layer {k} of {layer.name!r} is a {type(rnn).__name__} and layer 0 a {type(first).__name__}: "
                    "one torch module runs one kind"
                )
            _check_keras_rnn(rnn, kind, backwards=d == 1)
            for option, value in (
                ("units", rnn.cell.units),
                ("use_bias", rnn.cell.use_bias),
                ("activation", _activation_name(rnn.cell.activation)),
            ):
                if value != {"units": units, "use_bias": use_bias, "activation": activation}[option]:
                    raise ValueError(
                        f"{rnn.name!r}: {option}={value!r} differs from layer 0's; one torch module has one "
                        f"hidden_size, bias and nonlinearity. Received: {option}={value!r}"
                    )
            dropped = {n: getattr(rnn.cell, n) for n in ("dropout", "recurrent_dropout") if getattr(rnn.cell, n) > 0}
            if dropped:
                # torch's dropout acts between layers, per step; Keras' on a cell's input and state, one mask
                # per sequence: not the same training, so nothing is carried, and the warning says so.
                _warn(
                    f"{type(rnn).__name__} {rnn.name!r}: {dropped} is not carried: torch's recurrent modules have "
                    "no dropout on a cell's input or state. Inference agrees, training differs",
                    4,
                )
            if k < len(directions) - 1 and not rnn.return_sequences:
                raise ValueError(
                    f"{rnn.name!r}: return_sequences=False below the top of the stack cannot be converted: "
                    "torch feeds each layer's whole output sequence to the next"
                )
    options = {
        "input_size": first.cell.kernel.shape[0],
        "hidden_size": units,
        "num_layers": len(directions),
        "bias": use_bias,
        "bidirectional": D == 2,
        "nonlinearity": activation,
    }
    return kind, [rnn for rnns in directions for rnn in rnns], options


def _keras_cell(rnn: Any, kind: str) -> list[np.ndarray]:
    """A Keras layer's cell as the canonical [W_ih, W_hh, b], NumPy; zero b for ``use_bias=False``."""
    values = [np.asarray(v.numpy()) for v in cell_variables(rnn.cell)]
    if not rnn.cell.use_bias:
        values.append(np.zeros(bias_shape(kind, rnn.cell.units), dtype=values[0].dtype))
    return values


def rnn_keras_to_torch(layer: Any) -> Any:
    """A Keras recurrent layer or stack -> ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU``, as ``keras_to_torch``."""
    import torch

    kind, rnns, options = keras_recurrent_parts(layer)
    activation = options.pop("nonlinearity")
    if kind == "rnn":
        options["nonlinearity"] = activation
    module_class = getattr(torch.nn, TORCH_CLASSES[kind])
    module = module_class(batch_first=True, **options).to(_torch_dtype(rnns[0]))
    for k, rnn in enumerate(rnns):
        _load_torch_cell(module, kind, k, *_keras_cell(rnn, kind))
    return module


def rnn_keras_to_canonical(layer: Any) -> tuple[str, Any, dict[str, np.ndarray]]:
    """A Keras recurrent layer or stack -> (kind, config, canonical weights), as ``keras_to_canonical``."""
    kind, rnns, options = keras_recurrent_parts(layer)
    _torch_dtype(rnns[0])  # float32 or float64 only
    config = _make_config(
        kind,
        options["nonlinearity"],
        input_size=options["input_size"],
        hidden_size=options["hidden_size"],
        num_layers=options["num_layers"],
        bidirectional=options["bidirectional"],
    )
    weights = {}
    for k, rnn in enumerate(rnns):
        for n, value in zip(CANONICAL_CELL_NAMES, _keras_cell(rnn, kind), strict=True):
            weights[f"cells.{k}.{n}"] = value
    return kind, config, weights


# ---------------------------------------------------------------------------------------------
# canonical -> torch, canonical -> Keras


def _canonical_cells(config: Any, weights: Mapping[str, np.ndarray], dtype: str) -> list[list[np.ndarray]]:
    """Per cell k: [W_ih, W_hh, b], which are Keras' [kernel, recurrent_kernel, bias] as they are."""
    return [
        [np.asarray(weights[f"cells.{k}.{n}"], dtype=dtype) for n in CANONICAL_CELL_NAMES]
        for k, _, _ in cells(config.num_layers, num_directions(config))
    ]


def rnn_canonical_to_torch(kind: str, config: Any, weights: Mapping[str, np.ndarray], dtype: str) -> Any:
    """Canonical cells -> ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` in inference mode, as ``canonical_to_torch``."""
    import torch

    c = config
    options: dict[str, Any] = {"nonlinearity": c.activation} if kind == "rnn" else {}
    # torch warns about dropout on a single layer, where it acts nowhere (as in the twins).
    dropout = c.dropout if c.num_layers > 1 else 0.0
    module = getattr(torch.nn, TORCH_CLASSES[kind])(
        c.input_size,
        c.hidden_size,
        num_layers=c.num_layers,
        batch_first=True,
        dropout=dropout,
        bidirectional=c.bidirectional,
        dtype=getattr(torch, dtype),
        **options,
    )
    for k, values in enumerate(_canonical_cells(c, weights, dtype)):
        _load_torch_cell(module, kind, k, *values)
    return module.train(False)


def rnn_canonical_to_keras(
    kind: str, config: Any, weights: Mapping[str, np.ndarray], dtype: str, layer_name: str | None
) -> Any:
    """Canonical cells -> the Keras layer or stack, assigned as they are, as ``canonical_to_keras``."""
    _warn_dropout_between_layers(config, "canonical_to_keras", f"canonical {kind}", stacklevel=4)
    out, keras_cells = keras_recurrent_stack(kind, config, True, dtype, layer_name)
    for cell, values in zip(keras_cells, _canonical_cells(config, weights, dtype), strict=True):
        for variable, value in zip(cell_variables(cell), values, strict=True):
            variable.assign(value)
    return out
