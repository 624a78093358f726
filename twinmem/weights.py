"""The canonical weight layout and its safetensors I/O.

Canonical weights are a flat ``{name: numpy array}`` mapping, the same for both twins and the
NumPy reference. The rules, which every model follows:

* Names follow the math of the model's docstring (``W_q``, ``b_q``, ``V``); a sub-model's weights
  are prefixed with its attribute name and a dot (``attention.W1``, ``blocks.0.W_q``), as in torch.
* A matmul kernel is stored ``(in, out)`` so that ``y = x @ W + b`` (Keras' ``Dense`` orientation;
  torch's ``nn.Linear`` stores the transpose, which its converter handles).
* Fused gate matrices state their gate order in the model's docstring; a twin that delegates to a
  framework kernel converts from the canonical layout when it loads, never in its forward pass,
  except torch's fused recurrent path, which transposes (GRU: reorders) per call so that the
  canonical parameters stay the leaves gradients reach.
* Files are safetensors (no pickle, ever), written whole or not at all (a temporary file beside the
  target, renamed into place). The file's metadata says what it holds; this module owns its one schema:

  ==============================  ======================================================================
  ``twinmem.names``               JSON list: the tensors in canonical (export) order (safetensors sorts)
  ``twinmem.model``               a canonical file: the registry model
  ``twinmem.config``              a canonical file: its config dataclass, as a JSON object
  ``twinmem.config_class``        that dataclass's name (LSTMConfig and GRUConfig have the same fields)
  ``twinmem.layout``              a converted file (``Conversion``): "torch" or "keras"
  ``twinmem.layer``               the built-in layer in words, ``lstm(input_size=8, ...)``
  ``twinmem.from``                the file it was converted from (JSON string)
  ``twinmem.options``             JSON object: every layer option, so converting back needs none
  ``twinmem.canonical_model``     the canonical model it came from or goes back to, if any
  ``twinmem.canonical_config``    that model's config (JSON), for the fields no weight holds
  ==============================  ======================================================================
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

try:  # bfloat16 for NumPy (TensorFlow installs it); without it, bfloat16 weights cannot be read or made here
    import ml_dtypes
except ImportError:  # pragma: no cover - exercised only where ml_dtypes is absent
    ml_dtypes = None  # type: ignore[assignment]
from safetensors import safe_open
from safetensors.numpy import save_file

from twinmem.checks import LOW_PRECISION

Shapes = dict[str, tuple[int, ...]]
Weights = dict[str, np.ndarray]

# The float dtypes a twin computes in, by name (twinmem.checks.TWIN_DTYPES); the 16-bit ones store every
# tensor in 16 bits.
FLOAT_DTYPES = ("float32", "float64", "bfloat16", "float16")


def numpy_dtype(dtype: str) -> np.dtype:
    """The NumPy dtype of a twin dtype name: ``ml_dtypes.bfloat16`` for "bfloat16" (NumPy has none)."""
    if dtype == "bfloat16":
        if ml_dtypes is None:
            raise ValueError("bfloat16 needs the ml_dtypes package (TensorFlow installs it): pip install ml_dtypes")
        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(dtype)


def cast_to(array: object, dtype: str) -> np.ndarray:
    """``array`` as NumPy in the twin dtype ``dtype``, rounded to nearest, ties to even, from its own precision.

    The one rounding rule for weights and inputs going into a twin (a float32 or float64 file into a
    bfloat16 or float16 twin): one IEEE round-to-nearest-even step from the source value, done here by
    NumPy / ml_dtypes, never by the frameworks. Both frameworks cast float64 to bfloat16 through float32,
    a double rounding: 1 + 2^-8 + 2^-30 becomes 1 (float32 drops 2^-30, leaving a tie that rounds to
    even) where one rounding gives 1 + 2^-7. The twins then receive values their dtype holds exactly.
    """
    return np.asarray(array).astype(numpy_dtype(dtype))


def cast_weights(
    weights: Mapping[str, object], dtypes: Mapping[str, str], allow_16_bit_cast: bool = False
) -> dict[str, np.ndarray]:
    """Each weight ``cast_to`` its twin variable's dtype (``dtypes``: name -> dtype), or a ValueError.

    Refused, because the twin would compute with other numbers than the file's, silently:
    - a finite weight that the cast would make infinite (beyond float16's largest value, 65504);
    - one 16-bit format into the other (bfloat16 <-> float16) unless ``allow_16_bit_cast``: neither holds
      the other's values (bfloat16 has float32's range and 8 significant bits, float16 11 bits and a
      range to 65504), so no rounding of one into the other is the obvious one to take silently.
    float32 or float64 into a 16-bit twin is the stated rule (``cast_to``: nearest, ties to even, once).
    """
    out = {}
    for name, dtype in dtypes.items():
        array = np.asarray(weights[name])
        source = array.dtype.name
        if source in LOW_PRECISION and dtype in LOW_PRECISION and source != dtype and not allow_16_bit_cast:
            raise ValueError(
                f"Weight '{name}' is {source} and this twin is {dtype}: a cast between the two 16-bit formats "
                "is not made silently (neither holds the other's values); pass allow_16_bit_cast=True to round "
                "to nearest, or load the file into a float32 twin"
            )
        cast = cast_to(array, dtype)
        overflow = np.isinf(cast.astype(np.float32)) & np.isfinite(array.astype(np.float64))
        if overflow.any():
            largest = float(np.max(np.abs(array.astype(np.float64)[overflow])))
            raise ValueError(
                f"Weight '{name}' holds {int(overflow.sum())} value(s) beyond {dtype}'s range (largest "
                f"magnitude {largest:.6g}, the dtype's largest finite value {float(np.finfo(numpy_dtype(dtype)).max):.6g}): "
                "they would become infinite"
            )
        out[name] = cast
    return out


def round_to(array: object, dtype: str) -> np.ndarray:
    """float64 values of ``array`` rounded to ``dtype`` (``cast_to``): what the twins see, in the oracle's dtype."""
    return cast_to(array, dtype).astype(np.float64)


def check_weights(weights: Mapping[str, object], expected: Shapes, owner: str = "model", what: str = "weights") -> None:
    """Raise a ValueError naming every missing, extra or mis-shaped weight.

    ``what="tensors"``: the tensors of a file in a framework's layout (``owner`` names that layout).
    """
    missing = [n for n in expected if n not in weights]
    extra = [n for n in weights if n not in expected]
    problems = []
    if missing:
        problems.append("missing " + ", ".join(f"'{n}' (expected shape {tuple(expected[n])})" for n in missing))
    if extra:
        problems.append("unexpected " + ", ".join(f"'{n}'" for n in extra))
    for name, shape in expected.items():
        if name in weights:
            got = tuple(np.shape(weights[name]))  # type: ignore[call-overload]  # arrays or tensors: any .shape
            if got != tuple(shape):
                problems.append(f"'{name}' expected shape {tuple(shape)}, received {got}")
    if problems:
        head = (
            f"The tensors do not match {owner}"
            if what == "tensors"
            else f"Weights for {owner} do not match its canonical layout"
        )
        raise ValueError(head + ": " + "; ".join(problems))


# The one rule by which a freshly built twin starts, in both frameworks (tf_impl.core.weight and
# torch_impl.core.weight follow it; the two draw from their own random streams, so the values
# differ, the distributions do not). Each weight names its role where it is declared:
INITIALIZERS = ("kernel", "zeros", "ones")


def kernel_std(shape: tuple[int, ...]) -> float:
    """Standard deviation of a "kernel" weight: N(0, 1/fan_in), fan_in = the second-to-last axis.

    A stack of kernels ((K + 1, V, d), (hops, d, d)) is a stack of (in, out) matrices; an embedding
    (V, d) counts as one; a weight vector (U,) that scores a tanh layer (Luong's ``v_a``) is a (U, 1)
    kernel, fan_in = U. "zeros" are biases and LayerNorm shifts, "ones" LayerNorm gains.
    """
    fan_in = shape[-2] if len(shape) >= 2 else shape[0]
    return 1.0 / float(np.sqrt(fan_in))


def random_weights(shapes: Shapes, seed: int) -> Weights:
    """Draw float64 weights of order one over sqrt(fan-in), the same for every twin.

    Kernels (2-D and more) are N(0, 1/fan_in) with fan_in = shape[0]; vectors (biases, gains)
    are N(0, 0.1) so that a missing bias in a twin shows up in parity instead of hiding at zero.
    """
    rng = np.random.default_rng(seed)
    out: Weights = {}
    for name, shape in shapes.items():
        if len(shape) >= 2:
            out[name] = rng.standard_normal(shape) / np.sqrt(shape[0])
        else:
            out[name] = 0.1 * rng.standard_normal(shape)
    return out


@dataclass(frozen=True)
class Conversion:
    """What a file that ``twinmem convert`` wrote in a torch or Keras layout says of itself (see the schema)."""

    layout: str  # twinmem.layout
    layer: str  # twinmem.layer
    source: str  # twinmem.from
    options: Mapping[str, Any]  # twinmem.options
    canonical_model: str | None = None  # twinmem.canonical_model
    canonical_config: str | None = None  # twinmem.canonical_config (JSON)

    def metadata(self) -> dict[str, str]:
        out = {
            "twinmem.layout": self.layout,
            "twinmem.layer": self.layer,
            "twinmem.from": self.source,
            "twinmem.options": json.dumps(dict(self.options)),
        }
        if self.canonical_model is not None and self.canonical_config is not None:
            out["twinmem.canonical_model"] = self.canonical_model
            out["twinmem.canonical_config"] = self.canonical_config
        return out

    @staticmethod
    def saved_options(metadata: Mapping[str, str]) -> dict[str, Any]:
        """The layer options a converted file recorded (none for any other file)."""
        try:
            options = json.loads(metadata.get("twinmem.options", "{}"))
        except json.JSONDecodeError as e:
            raise ValueError(f"The input file's twinmem.options metadata is not JSON ({e})") from None
        if not isinstance(options, dict):
            raise ValueError(f"The input file's twinmem.options metadata is not a JSON object. Received: {options!r}")
        return options


def config_json(config: object) -> str:
    """A config dataclass (or dict) as the JSON object ``twinmem.config`` holds."""
    if not (dataclasses.is_dataclass(config) or isinstance(config, Mapping)):
        raise TypeError(f"Expected `config` to be the model's config dataclass or a dict. Received: {type(config)}")
    cfg = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config)  # type: ignore[arg-type]
    # NumPy scalars (np.int64(4) from a computed size) are written as the numbers they hold.
    return json.dumps(cfg, default=lambda x: x.item() if isinstance(x, np.generic) else repr(x))


def default_permissions(path: str | Path, directory: bool = False) -> None:
    """Give ``path`` the permissions open() / mkdir() would have (mkstemp and mkdtemp make them private)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, (0o777 if directory else 0o666) & ~umask)


def save_weights(
    path: str | Path,
    weights: Mapping[str, np.ndarray],
    model: str | None = None,
    config: object = None,
    conversion: Conversion | None = None,
) -> None:
    """Save weights as safetensors, whole or not at all, with the metadata of the schema above.

    Canonical weights name their ``model`` and ``config``; a converted file carries its ``conversion``.
    """
    metadata: dict[str, str] = {}
    if model is not None:
        metadata.update({"twinmem.model": model, "twinmem.config": config_json(config)})
        if dataclasses.is_dataclass(config):
            metadata["twinmem.config_class"] = type(config).__name__
    if conversion is not None:
        metadata.update(conversion.metadata())
    tensors = {k: np.ascontiguousarray(v) for k, v in weights.items()}
    # safetensors lists tensors sorted by name; the canonical (export) order travels in the metadata.
    metadata["twinmem.names"] = json.dumps(list(tensors))
    path = Path(path)
    # Written beside the target and renamed into place: an interrupted save leaves the old file (or none).
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    default_permissions(tmp)
    try:
        save_file(tensors, tmp, metadata=metadata)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def config_from_metadata(config_class: type, metadata: Mapping[str, str], source: str) -> Any:
    """The ``config_class`` that a canonical file's ``twinmem.config`` metadata holds (defaults if absent).

    ``source`` names the file in the errors: metadata that is not a JSON object, or names an option
    the config does not have.
    """
    try:
        options = json.loads(metadata.get("twinmem.config", "{}"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{source}: its twinmem.config metadata is not JSON ({e})") from None
    if not isinstance(options, dict):
        raise ValueError(f"{source}: its twinmem.config metadata is not a JSON object. Received: {options!r}")
    unknown = sorted(set(options) - {f.name for f in dataclasses.fields(config_class)})
    if unknown:
        raise ValueError(f"{source}: its twinmem.config names options that {config_class.__name__} lacks: {unknown}")
    return config_class(**options)


# Config fields that choose how a twin computes, not what: a file saved from the fused path loads into
# the explicit one and back (parity proves the two paths the same function).
EXECUTION_FIELDS = frozenset({"path"})


def check_saved_config(metadata: Mapping[str, str], config: object, owner: str, source: str) -> None:
    """Refuse a file whose ``twinmem.config`` describes another model than ``config`` (the twin's).

    Shapes alone do not tell a relu RNN from a tanh one, or a bidirectional layer from two stacked
    ones: every field must agree but those in ``EXECUTION_FIELDS``. A file without a config (made
    by hand) has nothing to check; a field the saved config lacks and the dataclass has a default for
    counts as that default.
    """
    if "twinmem.config" not in metadata or not dataclasses.is_dataclass(config):
        return
    try:
        saved = json.loads(metadata["twinmem.config"])
    except json.JSONDecodeError as e:
        raise ValueError(f"{source}: its twinmem.config metadata is not JSON ({e})") from None
    ours = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    saved_class = metadata.get("twinmem.config_class", type(config).__name__)
    if isinstance(saved, dict) and saved_class == type(config).__name__:
        # A file saved before a field existed (tiny_gpt's layer_norm_eps) was saved when the field's default
        # was the only behaviour, so a missing field is its default; any other mismatch is still refused.
        defaults = {f.name: f.default for f in dataclasses.fields(config) if f.default is not dataclasses.MISSING}
        saved = {**{n: v for n, v in defaults.items() if n not in saved}, **saved}
    if not isinstance(saved, dict) or set(saved) != set(ours) or saved_class != type(config).__name__:
        raise ValueError(
            f"{source} holds weights of {metadata.get('twinmem.model', 'another model')!r}, whose config is the "
            f"{saved_class} {sorted(saved) if isinstance(saved, dict) else saved!r}; {owner} has a {type(config).__name__} "
            f"{sorted(ours)}. Load it into "
            "the model it was saved from, or pass ignore_config=True"
        )
    differ = {n: (saved[n], ours[n]) for n in ours if n not in EXECUTION_FIELDS and saved[n] != ours[n]}
    if differ:
        said = ", ".join(f"{n}={a!r} (this twin: {b!r})" for n, (a, b) in differ.items())
        raise ValueError(
            f"{source} was saved from a {owner} with {said}: the weights fit, the function would not. "
            "Build the twin with the file's config, or pass ignore_config=True"
        )


def check_finite(weights: Mapping[str, object]) -> None:
    """Refuse NaN or infinite weights, naming the first (they would run, and compute NaN)."""
    for name, value in weights.items():
        array = np.asarray(value)
        if (array.dtype.kind == "f" or array.dtype.name == "bfloat16") and not np.isfinite(array).all():
            bad = int(np.size(array) - np.isfinite(array).sum())
            raise ValueError(
                f"Weight '{name}' holds {bad} NaN or infinite value(s); pass allow_nonfinite=True to load it anyway"
            )


def _dtypes_numpy_lacks(path: Path, bfloat16: bool) -> list[str]:
    """The safetensors dtypes in the file's header that NumPy has no type for (BF16, F8_*), if the header reads."""
    try:
        with open(path, "rb") as f:
            size = int.from_bytes(f.read(8), "little")
            header = json.loads(f.read(size)) if 0 < size < 100_000_000 else {}
    except (OSError, ValueError):
        return []  # not a safetensors header: safe_open says so below
    dtypes = {v.get("dtype") for k, v in header.items() if k != "__metadata__" and isinstance(v, dict)}
    # BF16 reads as ml_dtypes.bfloat16 where ml_dtypes is installed (safetensors' NumPy side then knows it).
    lacks = ("BF16",) if ml_dtypes is None or not bfloat16 else ()
    return sorted(d for d in dtypes if isinstance(d, str) and (d in lacks or d.startswith("F8")))


def load_weights(path: str | Path, bfloat16: bool = False) -> tuple[Weights, dict[str, str]]:
    """Load a safetensors file; returns (weights, metadata). Refuses anything that is not safetensors.

    ``bfloat16=True`` (a twin's ``load_canonical``) reads BF16 tensors as ``ml_dtypes.bfloat16`` arrays;
    every other reader (the converters, which map float32 and float64 layouts) refuses them by name.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{str(path)!r} is a directory; expected a safetensors weight file")
    if not path.is_file():
        raise FileNotFoundError(f"Weight file not found: {str(path)!r}")
    unreadable = _dtypes_numpy_lacks(path, bfloat16)
    if unreadable:
        raise ValueError(
            f"{str(path)!r} holds {', '.join(unreadable)} tensors: twinmem loads float32 and float64 weights here "
            "(cast the file to float32 first; a twin's load_canonical reads BF16 where ml_dtypes is installed)"
        )
    try:
        with safe_open(str(path), framework="numpy") as f:
            metadata = dict(f.metadata() or {})
            weights = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open has no iterator)
    except Exception as e:  # safetensors raises its own error types for a bad header
        raise ValueError(
            f"{str(path)!r} is not a safetensors file ({e}); twinmem reads weights only from safetensors, "
            "never from pickle-based formats"
        ) from None
    try:
        names = json.loads(metadata.get("twinmem.names", "[]"))
    except json.JSONDecodeError:
        names = []  # an order that cannot be read leaves the file's own (sorted) order
    if isinstance(names, list) and sorted(map(str, names)) == sorted(weights):  # the order save_weights was given
        weights = {k: weights[k] for k in names}
    return weights, metadata
