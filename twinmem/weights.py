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
* Files are safetensors (no pickle, ever). The model name and its config travel in the file's
  metadata, so a file says what it holds.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np

Shapes = dict[str, tuple[int, ...]]
Weights = dict[str, np.ndarray]


def check_weights(weights: Mapping[str, object], expected: Shapes, owner: str = "model") -> None:
    """Raise a ValueError naming every missing, extra or mis-shaped weight."""
    missing = [n for n in expected if n not in weights]
    extra = [n for n in weights if n not in expected]
    problems = []
    if missing:
        problems.append("missing " + ", ".join(f"'{n}' (expected shape {tuple(expected[n])})" for n in missing))
    if extra:
        problems.append("unexpected " + ", ".join(f"'{n}'" for n in extra))
    for name, shape in expected.items():
        if name in weights:
            got = tuple(np.shape(weights[name]))
            if got != tuple(shape):
                problems.append(f"'{name}' expected shape {tuple(shape)}, received {got}")
    if problems:
        raise ValueError(f"Weights for {owner} do not match its canonical layout: " + "; ".join(problems))


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


def save_weights(path: str | Path, weights: Mapping[str, np.ndarray], model: str, config: object) -> None:
    """Save canonical weights as safetensors with the model name and config in the metadata."""
    from dataclasses import asdict, is_dataclass

    from safetensors.numpy import save_file

    if not (is_dataclass(config) or isinstance(config, Mapping)):
        raise TypeError(f"Expected `config` to be the model's config dataclass or a dict. Received: {type(config)}")
    cfg = asdict(config) if is_dataclass(config) else dict(config)  # type: ignore[arg-type]
    tensors = {k: np.ascontiguousarray(v) for k, v in weights.items()}
    # NumPy scalars (np.int64(4) from a computed size) are written as the numbers they hold.
    text = json.dumps(cfg, default=lambda x: x.item() if isinstance(x, np.generic) else repr(x))
    # safetensors lists tensors sorted by name; the canonical (export) order travels in the metadata.
    metadata = {"twinmem.model": model, "twinmem.config": text, "twinmem.names": json.dumps(list(tensors))}
    save_file(tensors, str(path), metadata=metadata)


def config_from_metadata(config_class: type, metadata: Mapping[str, str], source: str):
    """The ``config_class`` that a canonical file's ``twinmem.config`` metadata holds (defaults if absent).

    ``source`` names the file in the errors: metadata that is not a JSON object, or names an option
    the config does not have.
    """
    from dataclasses import fields

    try:
        options = json.loads(metadata.get("twinmem.config", "{}"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{source}: its twinmem.config metadata is not JSON ({e})") from None
    if not isinstance(options, dict):
        raise ValueError(f"{source}: its twinmem.config metadata is not a JSON object. Received: {options!r}")
    unknown = sorted(set(options) - {f.name for f in fields(config_class)})
    if unknown:
        raise ValueError(f"{source}: its twinmem.config names options that {config_class.__name__} lacks: {unknown}")
    return config_class(**options)


def load_weights(path: str | Path) -> tuple[Weights, dict[str, str]]:
    """Load a safetensors file; returns (weights, metadata). Refuses anything that is not safetensors."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Weight file not found: {str(path)!r}")
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
