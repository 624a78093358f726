"""Run a TF twin for the parity harness: outputs, intermediates and gradients, as NumPy."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import tensorflow as tf


def to_tensors(inputs: Mapping[str, np.ndarray], dtype: str) -> dict:
    """Floating inputs in the twin's dtype; masks and token ids as they are."""
    return {n: tf.constant(x.astype(dtype) if x.dtype.kind == "f" else x) for n, x in inputs.items()}


def forward_and_grads(model, inputs: Mapping[str, np.ndarray], cotangents, dtype: str):
    """Forward with intermediates, then d(sum_k <c_k, out_k>)/d(every floating input and weight)."""
    x = to_tensors(inputs, dtype)
    float_inputs = {n: t for n, t in x.items() if t.dtype.is_floating}
    variables = model.canonical_variables()
    with tf.GradientTape() as tape:
        tape.watch(list(float_inputs.values()))
        outputs, mids = model(**x, return_intermediates=True)
        loss = tf.add_n(
            [
                tf.reduce_sum(o * tf.constant(c.astype(dtype)))
                for o, c in zip(outputs, cotangents, strict=True)
                if c is not None
            ]
        )
    sources = {
        **{f"input:{n}": t for n, t in float_inputs.items()},
        **{f"weight:{n}": v for n, v in variables.items()},
    }
    grads = tape.gradient(loss, list(sources.values()), unconnected_gradients=tf.UnconnectedGradients.ZERO)
    # A tf.gather of a weight outside core.embed yields a sparse IndexedSlices gradient; made dense to compare.
    grads = [tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g for g in grads]
    return (
        tuple(None if o is None else np.asarray(o) for o in outputs),  # None: a fused path's weights
        {n: np.asarray(m) for n, m in mids.items()},
        {n: np.asarray(g) for n, g in zip(sources, grads, strict=True)},
    )


def to_numpy(x) -> np.ndarray:
    return np.asarray(x)
