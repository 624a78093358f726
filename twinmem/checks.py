"""Input checks shared by both twins, so that both raise the same words for the same mistake.

They take plain shape tuples (``None`` for a dimension unknown while tracing a graph) and dtype
names, so no framework is imported here.
"""

from __future__ import annotations

from collections.abc import Sequence

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


def dtype_name(dtype: object) -> str:
    """'float32' for tf.float32, torch.float32, np.float32 alike."""
    return getattr(dtype, "name", None) or str(dtype).rsplit(".", 1)[-1]


def check_mask(name: str, shape: Shape, dtype: object, expected: Shape) -> None:
    """A mask is boolean, True = attend / valid position, and has exactly the expected shape."""
    dtype = dtype_name(dtype)
    if dtype != "bool":
        raise TypeError(f"Expected `{name}` of dtype bool (True = attend). Received: dtype {dtype}")
    if len(shape) != len(expected) or not all(_same(a, b) for a, b in zip(shape, expected, strict=True)):
        raise ValueError(f"Expected `{name}` of shape {tuple(expected)}. Received: shape {tuple(shape)}")


def check_float(name: str, dtype: object) -> None:
    dtype = dtype_name(dtype)
    if dtype not in ("float16", "bfloat16", "float32", "float64"):
        raise TypeError(f"Expected `{name}` of a floating dtype. Received: dtype {dtype}")
