"""The canonical layout of a recurrent layer, written once.

Canonical layout of a recurrent layer (``rnn``, ``lstm``, ``gru``): one cell per layer and
direction, ``cells.{k}`` with k = layer * num_directions + direction (direction 0 = forward,
1 = backward), the order of torch's ``h_n``. Each cell holds

* ``W_ih`` (D_in, G H) and ``W_hh`` (H, G H), kernels (in, out): the gate pre-activations are
  ``x_t @ W_ih + h_tm1 @ W_hh + b``, gate g in columns [g H, (g + 1) H);
* ``b``: (G H,) for ``rnn`` and ``lstm`` (one bias: torch's b_ih + b_hh, Keras' ``bias``); for ``gru``
  (2, 3 H), row 0 the input bias and row 1 the recurrent bias (Keras ``reset_after=True``), because
  the reset gate multiplies the recurrent term *with* its bias and the two cannot be summed.

Gate orders: ``rnn`` G = 1; ``lstm`` G = 4, gates i, f, g, o (torch ``W_ii|W_if|W_ig|W_io`` and Keras
``i, f, c, o`` agree); ``gru`` G = 3, gates z, r, n (Keras' ``z, r, h``). PyTorch's GRU orders its
gates r, z, n and keeps two bias vectors ``b_ih``, ``b_hh`` (3H each), with
n = tanh(W_in x + b_in + r * (W_hn h + b_hn)); Keras' GRU with ``reset_after=True`` orders them
z, r, h with a (2, 3H) bias and computes the same function. The canonical GRU layout is Keras'
(so the Keras fused path holds the canonical variables as they are); the converters swap the r and z
column blocks and transpose to reach ``weight_ih_l{k}`` (3H, D), ``bias_ih_l{k}`` etc. The canonical
layout is the file's, not necessarily a twin's in memory: the torch twin holds its GRU cells' gates in
torch's order r, z, n (``TORCH_GATE_ORDER``), so that its fused path passes them to torch's kernel as
they are, and reorders only at load, at export and where it reports gradients (``stored_order``).

Everything that knows this layout is here, used by the converters (``twinmem.interop``), ``twinmem
convert`` and the torch twin's fused path alike: gate counts and orders, torch's ``_l{k}[_reverse]``
suffixes, Keras' sub-layer names, the class names on each side, the canonical <-> torch cell
conversion (written once, for NumPy arrays and torch tensors alike), and the dtypes the twins' fused path
(the frameworks' kernels on these layouts) is made for. Keras' cell variables *are* the canonical cell.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from twinmem.configs.rnn import kind_of, num_directions

KINDS = ("rnn", "lstm", "gru")
# The gates along a cell's gate axis, by kind: in the canonical order (Keras' too: its GRU's h is n) and in
# torch's kernels' order. Gate g of an order sits in columns [g H, (g + 1) H).
CANONICAL_GATE_ORDER = {"rnn": ("h",), "lstm": ("i", "f", "g", "o"), "gru": ("z", "r", "n")}
TORCH_GATE_ORDER = {"rnn": ("h",), "lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n")}
# Gates per kind, G: the canonical kernels are (in, G H).
GATES = {kind: len(order) for kind, order in CANONICAL_GATE_ORDER.items()}
# torch's RNNBase.mode -> the kind; the kind names the torch and the Keras class.
TORCH_MODES = {"RNN_TANH": "rnn", "RNN_RELU": "rnn", "LSTM": "lstm", "GRU": "gru"}
TORCH_CLASSES = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}  # torch.nn.<name>
KERAS_CLASSES = {"rnn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}  # keras.layers.<name>
TORCH_CELL_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
CANONICAL_CELL_NAMES = ("W_ih", "W_hh", "b")  # = Keras' [kernel, recurrent_kernel, bias], as they are


# The dtypes the twins' fused path runs in. In bfloat16 and float16 each framework's own recurrent kernel
# rounds its own way (where it accumulates, which steps it rounds, and torch has no fast float16 kernel on
# CPU), not by the rnn family's precision rule (the twins' module docstrings): refused there.
FUSED_DTYPES = ("float32", "float64")


def fused_refusal(path: str, dtype: str) -> str | None:
    """Why a recurrent layer on ``path`` is not made for ``dtype``, or None: the fused path in 16 bits."""
    if path != "fused" or dtype in FUSED_DTYPES:
        return None
    return (
        f"Expected `path` to be 'explicit' in {dtype}: the fused path runs each framework's own recurrent "
        f"kernel, which rounds its own way in {dtype}, not by the rnn family's precision rule; use "
        "path='explicit'. Received: path='fused'"
    )


def check_path_dtype(path: str, dtype: str) -> None:
    """A ValueError naming ``path`` and ``dtype`` where the fused path is asked for in 16 bits (``fused_refusal``)."""
    reason = fused_refusal(path, dtype)
    if reason is not None:
        raise ValueError(reason)


def cells(num_layers: int, directions: int) -> Iterator[tuple[int, int, int]]:
    """(k, layer, direction) of every cell, k = layer * directions + direction: torch's h_n order."""
    for k in range(num_layers * directions):
        yield k, k // directions, k % directions


def torch_suffix(k: int, directions: int) -> str:
    """torch's parameter suffix of cell k: ``_l{layer}``, and ``_reverse`` for the backward direction."""
    return f"_l{k // directions}" + ("_reverse" if k % directions else "")


def keras_layer_name(name: str, layer: int, num_layers: int) -> str:
    """Keras' name of layer ``layer`` of a converted stack named ``name``: ``name`` itself when the stack
    has one layer, ``{name}_l{layer}`` inside the ``keras.Sequential`` of several."""
    return name if num_layers == 1 else f"{name}_l{layer}"


def keras_wrapper_name(layer_name: str) -> str:
    """Keras' name of the ``Bidirectional`` wrapper around the layer named ``layer_name``."""
    return f"bidirectional_{layer_name}"


def layer_input_size(config: Any, k: int) -> int:
    """Features cell k reads: the input's for layer 0, both directions' outputs (D H) above it."""
    D = num_directions(config)
    return config.input_size if k < D else D * config.hidden_size


def bias_shape(kind: str, hidden_size: int) -> tuple[int, ...]:
    """The canonical bias: (G H,) for rnn and lstm (torch's b_ih + b_hh); (2, 3 H) for gru, rows input and
    recurrent, because the reset gate multiplies the recurrent term *with* its bias and the two cannot be summed."""
    G = GATES[kind]
    return (2, G * hidden_size) if kind == "gru" else (G * hidden_size,)


def recurrent_shapes(config: Any, prefix: str = "") -> dict[str, tuple[int, ...]]:
    """The canonical weight shapes of an ``RNNConfig`` / ``LSTMConfig`` / ``GRUConfig``, in canonical order."""
    kind, H = kind_of(config), config.hidden_size
    shapes: dict[str, tuple[int, ...]] = {}
    for k, _, _ in cells(config.num_layers, num_directions(config)):
        shapes[f"{prefix}cells.{k}.W_ih"] = (layer_input_size(config, k), GATES[kind] * H)
        shapes[f"{prefix}cells.{k}.W_hh"] = (H, GATES[kind] * H)
        shapes[f"{prefix}cells.{k}.b"] = bias_shape(kind, H)
    return shapes


def gate_columns(order: tuple[str, ...], hidden_size: int) -> dict[str, slice]:
    """Each gate's columns along a gate axis in ``order``: gate g in [g H, (g + 1) H)."""
    H = hidden_size
    return {gate: slice(g * H, (g + 1) * H) for g, gate in enumerate(order)}


def gate_permutation(source: tuple[str, ...], target: tuple[str, ...], hidden_size: int) -> list[int]:
    """Columns of a gate axis in ``source`` order, listed in ``target`` order: ``a[..., perm]`` reorders a.

    A list, so that it indexes NumPy arrays and torch tensors alike, under autograd too.
    """
    columns = gate_columns(source, hidden_size)
    return [c for gate in target for c in range(columns[gate].start, columns[gate].stop)]


def torch_gate_order(kind: str, hidden_size: int) -> list[int] | None:
    """Columns of a canonical (Keras) gate axis in torch's order; None where the orders agree.

    GRU: canonical z | r | n, torch r | z | n, the first two blocks swapped (a permutation that is its own
    inverse, so the same list maps torch's order back).
    """
    if CANONICAL_GATE_ORDER[kind] == TORCH_GATE_ORDER[kind]:
        return None
    return gate_permutation(CANONICAL_GATE_ORDER[kind], TORCH_GATE_ORDER[kind], hidden_size)


def stored_order(kind: str, hidden_size: int) -> list[int] | None:
    """How a twin holding a cell's gates in torch's order gets the canonical ones back: ``stored[..., order]``
    is the canonical array (of W_ih, W_hh and b alike: the gate axis is the last). None where they agree."""
    if CANONICAL_GATE_ORDER[kind] == TORCH_GATE_ORDER[kind]:
        return None
    return gate_permutation(TORCH_GATE_ORDER[kind], CANONICAL_GATE_ORDER[kind], hidden_size)


def torch_cell(kind: str, W_ih: Any, W_hh: Any, b: Any, zero_bias: Any) -> dict[str, Any]:
    """A cell whose gates are in torch's order -> torch's ``weight_ih``, ``weight_hh`` (G H, in), out x in,
    ``bias_ih``, ``bias_hh``: views only (transposes, the GRU's bias rows), so gradients reach the leaves.

    ``zero_bias``: a zero (G H,) vector of the same kind, torch's ``bias_hh`` for rnn and lstm, whose one
    bias goes whole into ``bias_ih`` (b + 0 is b exactly); the GRU's (2, 3H) bias is torch's two rows.
    """
    if kind == "gru":
        return {"weight_ih": W_ih.T, "weight_hh": W_hh.T, "bias_ih": b[0], "bias_hh": b[1]}
    return {"weight_ih": W_ih.T, "weight_hh": W_hh.T, "bias_ih": b, "bias_hh": zero_bias}


def canonical_to_torch_cell(kind: str, W_ih: Any, W_hh: Any, b: Any, zero_bias: Any) -> dict[str, Any]:
    """One canonical cell -> torch's ``weight_ih``, ``weight_hh`` (G H, in), out x in, ``bias_ih``, ``bias_hh``.

    Works on NumPy arrays and torch tensors alike: the GRU's gate blocks reordered (a copy), then ``torch_cell``.
    """
    order = torch_gate_order(kind, W_hh.shape[0])
    if order is not None:
        W_ih, W_hh, b = W_ih[:, order], W_hh[:, order], b[:, order]
    return torch_cell(kind, W_ih, W_hh, b, zero_bias)


def torch_to_canonical_cell(
    kind: str, weight_ih: np.ndarray, weight_hh: np.ndarray, bias_ih: np.ndarray | None, bias_hh: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """torch's (out, in) matrices and biases (None: ``bias=False``) -> canonical (W_ih, W_hh, b), NumPy.

    Exact but for rnn / lstm with biases, whose one canonical bias is the float sum ``bias_ih + bias_hh``.
    A layer without biases gets zero biases.
    """
    order = torch_gate_order(kind, weight_hh.shape[1])
    W_ih, W_hh = weight_ih.T, weight_hh.T
    if order is not None:
        W_ih, W_hh = W_ih[:, order], W_hh[:, order]
    H = weight_hh.shape[1]
    if bias_ih is None or bias_hh is None:
        b = np.zeros(bias_shape(kind, H), dtype=W_ih.dtype)
    elif order is not None:
        b = np.stack([bias_ih[order], bias_hh[order]])
    else:
        b = bias_ih + bias_hh
    return np.ascontiguousarray(W_ih), np.ascontiguousarray(W_hh), np.ascontiguousarray(b)
