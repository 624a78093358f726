"""Run a TF twin for the parity harness: outputs, intermediates and gradients, as NumPy."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import tensorflow as tf

from twinmem.weights import cast_to


def to_tensors(inputs: Mapping[str, np.ndarray], dtype: str) -> dict:
    """Floating inputs in the twin's dtype; masks and token ids as they are."""
    return {n: tf.constant(cast_to(x, dtype) if x.dtype.kind == "f" else x) for n, x in inputs.items()}


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
                tf.reduce_sum(o * tf.constant(cast_to(c, dtype)))
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
        tuple(None if o is None else to_numpy(o) for o in outputs),  # None: a fused path's weights
        {n: to_numpy(m) for n, m in mids.items()},
        {n: to_numpy(g) for n, g in zip(sources, grads, strict=True)},
    )


def to_numpy(x) -> np.ndarray:
    """As NumPy; bfloat16 and float16 as float64 (exact), which every NumPy function takes."""
    x = np.asarray(x)
    return x.astype(np.float64) if x.dtype.name in ("bfloat16", "float16") else x
