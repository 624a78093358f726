"""Run a trained twin on NumPy arrays and get NumPy back: per-row answers and named intermediates.

The framework's train module (``tf_impl.train`` / ``torch_impl.train``) is imported when a twin is
measured, as ``train_twin`` does: this module imports no framework at its top.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

import numpy as np


def to_numpy(x: Any) -> np.ndarray:
    """A TF or torch tensor (or NumPy array) as NumPy."""
    return x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)


def forward(
    framework: str, model: Any, batch: Mapping[str, np.ndarray], inputs: tuple[str, ...], intermediates: bool = False
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The model's first output (logits) and, if asked, its named intermediates, as NumPy."""
    train = importlib.import_module(f"{framework}_impl.train")
    x = train.to_tensors(batch)
    if intermediates:
        outputs, mids = model(*(x[n] for n in inputs), return_intermediates=True)
        return to_numpy(outputs[0]), {n: to_numpy(m) for n, m in mids.items()}
    return to_numpy(model(*(x[n] for n in inputs))[0]), {}


def answers_correct(logits: np.ndarray, batch: Mapping[str, np.ndarray]) -> np.ndarray:
    """Per row, whether the top logit is the answer: at ``answer_position`` (B, T, V) or of (B, V)."""
    if "answer_position" in batch:
        scores = logits[np.arange(len(logits)), batch["answer_position"]]
        return np.asarray(scores.argmax(-1) == batch["answer"])
    return np.asarray(logits.argmax(-1) == batch["answers"])


def measure(framework: str, name: str, model: Any, batch: Mapping[str, np.ndarray], inputs: tuple[str, ...]) -> float:
    """One of the framework's ``MEASURES`` (e.g. ``bit_errors``) on these rows."""
    train = importlib.import_module(f"{framework}_impl.train")
    return float(train.MEASURES[name](model, batch, inputs))
