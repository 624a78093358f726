"""Input checks shared by both twins, so that both raise the same words for the same mistake.

They take plain shape tuples (``None`` for a dimension unknown while tracing a graph), dtype
names and NumPy values, so no framework is imported here.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np

Shape = Sequence[int | None]


def _same(a: int | None, b: int | None) -> bool:
    return a is None or b is None or a == b


def check_rank(name: str, shape: Shape, ranks: Sequence[int], legend: str) -> None:
    if len(shape) not in ranks:
        want = " or ".join(str(r) for r in ranks)
        raise ValueError(f"Expected `{name}` of rank {want} with shape {legend}. Received: shape {tuple(shape)}")


def check_dim(name: str, shape: Shape, axis: int, expected: int, what: str) -> None:
    if not _same(shape[axis], expected):
        raise ValueError(
            f"Expected `{name}` to have {what} = {expected} on axis {axis % len(shape)}. Received: shape {tuple(shape)}"
        )


def check_same(name: str, shape: Shape, axis: int, other: str, other_shape: Shape, other_axis: int) -> None:
    if not _same(shape[axis], other_shape[other_axis]):
        raise ValueError(
            f"Expected `{name}` axis {axis % len(shape)} to match `{other}` axis {other_axis % len(other_shape)}. "
            f"Received: `{name}` shape {tuple(shape)}, `{other}` shape {tuple(other_shape)}"
        )


# Every call of a twin asks for a few dtypes' names, which never change (~1 us each to work out). A dict,
# not functools.cache, which torch.compile warns about wherever a compiled twin calls it.
_DTYPE_NAMES: dict[object, str] = {}


def dtype_name(dtype: object) -> str:
    """'float32' for tf.float32, torch.float32, np.float32 alike."""
    name = _DTYPE_NAMES.get(dtype)
    if name is None:
        name = _DTYPE_NAMES[dtype] = getattr(dtype, "name", None) or str(dtype).rsplit(".", 1)[-1]
    return name


def check_mask(name: str, shape: Shape, dtype: object, expected: Shape) -> None:
    """A mask is boolean, True = attend / valid position, and has exactly the expected shape."""
    dtype = dtype_name(dtype)
    if dtype != "bool":
        raise TypeError(f"Expected `{name}` of dtype bool (True = attend). Received: dtype {dtype}")
    if len(shape) != len(expected) or not all(_same(a, b) for a, b in zip(shape, expected, strict=True)):
        raise ValueError(f"Expected `{name}` of shape {tuple(expected)}. Received: shape {tuple(shape)}")


# The dtypes a twin computes in (as twinmem.weights.FLOAT_DTYPES), and the 16-bit ones among them, whose
# twins follow the precision rules their family's docstring states (some steps in float32).
TWIN_DTYPES = ("float32", "float64", "bfloat16", "float16")
LOW_PRECISION = ("bfloat16", "float16")


def is_low_precision(dtype: object) -> bool:
    """bfloat16 or float16, given as a name or a NumPy / TF / torch dtype."""
    return dtype_name(dtype) in LOW_PRECISION


def is_float_dtype(dtype: np.dtype) -> bool:
    """A floating NumPy dtype, ml_dtypes' bfloat16 included (NumPy files it as kind "V", not "f")."""
    return dtype.kind == "f" or dtype.name == "bfloat16"


def check_twin_dtype(dtype: object, name: str = "dtype") -> str:
    """A twin's dtype name, or a TypeError (not a name: an integer, a NumPy or framework dtype object) or a
    ValueError (an unknown name, integer and complex dtypes among them), naming the argument and the dtype."""
    if not isinstance(dtype, str):
        raise TypeError(
            f"Expected `{name}` to be one of {TWIN_DTYPES} (a name). Received: {dtype!r} of type {type(dtype).__name__}"
        )
    if dtype not in TWIN_DTYPES:
        raise ValueError(f"Expected `{name}` to be one of {TWIN_DTYPES}. Received: {dtype!r}")
    return dtype


def check_dtype(name: str, dtype: object, expected: str) -> None:
    """A float input in the model's own dtype: never a silent cast (Keras autocasts) or a kernel error (torch)."""
    dtype = dtype_name(dtype)
    if dtype != expected:
        raise TypeError(f"Expected `{name}` of dtype {expected} (the model's dtype). Received: dtype {dtype}")


def check_tensors(kinds: type | tuple[type, ...], what: str, tensors: Mapping[str, object]) -> None:
    """Each argument (None = absent) is a tensor the twin can use, not an object it would fail on deep inside."""
    for name, x in tensors.items():
        if x is not None and not isinstance(x, kinds):
            raise TypeError(f"Expected `{name}` to be a {what}. Received: {type(x).__module__}.{type(x).__qualname__}")


def is_int(value: object) -> bool:
    """A Python or NumPy integer, not a bool (True is an int to Python, never a size or an id here)."""
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def check_steps(name: str, shape: Shape, axis: int, what: str) -> None:
    """At least one step: the loops over time stack their per-step results, and there are none to stack."""
    if shape[axis] == 0:
        raise ValueError(
            f"Expected `{name}` to have at least one {what} on axis {axis % len(shape)}. Received: shape {tuple(shape)}"
        )


# Value checks take NumPy values, or None where they are unknown (in tf.function, torch.compile): the
# twins pass their `known_values` (a device-to-host copy), so these run per top-level call, not per step.
KnownValues = Callable[[object], np.ndarray | None]


def check_ids(name: str, ids: np.ndarray | None, vocab_size: int, what: str = "vocab_size") -> None:
    """Every id in [0, V): out of range, a lookup is an opaque kernel error or reads a wrong row, silently."""
    if ids is not None and ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
        bad = ids[(ids < 0) | (ids >= vocab_size)]
        raise ValueError(f"Expected `{name}` ids in [0, {what} = {vocab_size}). Received: id {int(bad.flat[0])}")


def check_right_padded(name: str, mask: np.ndarray | None) -> None:
    """Each row of a (B, T) mask is a valid prefix, True then False: the fused recurrent kernels take lengths."""
    if mask is None:
        return
    # One comparison and one reduction: every fused recurrent call runs this, and the former three
    # temporaries (&, ~, any over axis 1) cost 0.13 ms of a 0.9 ms LSTM call at batch 1.
    rises = mask[:, 1:] > mask[:, :-1]  # a True after a False
    if rises.any():
        row = int(np.argmax(rises.any(axis=1)))
        raise ValueError(
            f"Expected `{name}` right-padded (each row True on its valid steps, then False). "
            f"Received: row {row} = {mask[row].astype(int).tolist()}"
        )


def check_float_weights(weights: Mapping[str, object]) -> None:
    """Every weight floating, checked before any is assigned: a refused load leaves the twin as it was."""
    for name, value in weights.items():
        dtype = np.asarray(value).dtype
        if not is_float_dtype(dtype):
            raise TypeError(f"Expected weight '{name}' of a floating dtype. Received: dtype {dtype}")


def check_config_fields(config: object) -> None:
    """Each field of a config dataclass means what it says, or a ValueError names it.

    ``int`` fields are sizes and counts (>= 1: ``num_heads=0`` would build a layer that returns zeros),
    ``bool`` fields are True or False (``causal="no"`` is truthy), ``float`` fields are finite, and a
    ``str`` field is one of the config's ``CHOICES[field]`` when it lists them. Called by every config's
    ``__post_init__``, so a config is checked wherever it enters: code, a file's metadata, the CLI.
    """
    name = type(config).__name__
    choices: Mapping[str, Sequence[str]] = getattr(config, "CHOICES", {})
    for f in dataclasses.fields(config):  # type: ignore[arg-type]
        value = getattr(config, f.name)
        kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "")
        if kind == "bool" and not isinstance(value, bool | np.bool_):
            raise ValueError(f"Expected `{f.name}` of {name} to be True or False. Received: {value!r}")
        if kind == "int" and (not is_int(value) or value < 1):
            raise ValueError(f"Expected `{f.name}` of {name} to be an int >= 1. Received: {value!r}")
        if kind == "float" and (
            not isinstance(value, int | float | np.floating) or isinstance(value, bool) or not math.isfinite(value)
        ):
            raise ValueError(f"Expected `{f.name}` of {name} to be a finite number. Received: {value!r}")
        if kind == "str" and f.name in choices and value not in choices[f.name]:
            raise ValueError(
                f"Expected `{f.name}` of {name} to be one of {tuple(choices[f.name])}. Received: {value!r}"
            )


class CheckedConfig:
    """Base of every config dataclass: its fields are checked when it is made (``check_config_fields``)."""

    def __post_init__(self) -> None:
        check_config_fields(self)
