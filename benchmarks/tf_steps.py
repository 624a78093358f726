"""Build a timed TensorFlow step for a benchmark case."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from twinmem import interop
from twinmem.weights import cast_to

RECURRENT_BUILTINS = {"keras.layers.SimpleRNN": "rnn", "keras.layers.LSTM": "lstm", "keras.layers.GRU": "gru"}


def _device(device: str) -> str:
    return "/GPU:0" if device == "gpu" else "/CPU:0"


def sync(device: str) -> None:
    # GPU kernels run asynchronously: wait for every device before the clock is read.
    if device == "gpu":
        tf.test.experimental.sync_devices()


def reset_peak_memory(device: str) -> None:
    if device == "gpu":
        tf.config.experimental.reset_memory_stats("GPU:0")


def peak_memory(device: str) -> int | None:
    """Peak bytes TF's allocator held since the reset; None on CPU (not measured there)."""
    return tf.config.experimental.get_memory_info("GPU:0")["peak"] if device == "gpu" else None


def gemm_step(n: int, device: str, mode: str = "graph", dtype: str = "float32"):
    with tf.device(_device(device)):
        a, b = tf.cast(tf.random.normal((n, n)), dtype), tf.cast(tf.random.normal((n, n)), dtype)

    def matmul():
        return tf.matmul(a, b)  # returned: an unused result inside tf.function would be pruned away

    run = {"eager": matmul, "graph": tf.function(matmul), "xla": tf.function(matmul, jit_compile=True)}[mode]

    def step():
        # Placed on the case's device: without the scope TF puts ops on a GPU whenever it has one.
        with tf.device(_device(device)):
            run()
        sync(device)

    return step


def builtin_or_twin(case, entry, config, weights):
    """(callable taking the case's inputs and returning a tuple, its variables) for ``case.impl``."""
    if case.impl == "twin":
        model = entry.build("tf", config, case.dtype, weights)
        return model, list(model.canonical_variables().values())
    if case.impl == "keras.layers.MultiHeadAttention":
        mha = interop.mha_to_keras(weights, config)

        def call(query, key, value, mask):
            attention_mask = tf.repeat(mask[:, None, :], tf.shape(query)[1], axis=1)  # (B, Tq, T), True = attend
            return (mha(query, value, key, attention_mask=attention_mask, use_causal_mask=config.causal),)

        return call, list(mha.trainable_variables)
    if case.impl == "keras.ops.dot_product_attention":

        def call(query, key, value, mask):
            T = tf.shape(key)[1]
            m = mask[:, None, None, :]  # (B, H=1, Tq, T)
            if config.causal:
                m = tf.logical_and(m, tf.linalg.band_part(tf.ones((T, T), tf.bool), -1, 0))
            # Keras lays heads out as (B, T, H, d): one head here.
            out = keras.ops.dot_product_attention(query[:, :, None], key[:, :, None], value[:, :, None], mask=m)
            return (out[:, :, 0],)

        return call, []
    if case.impl in RECURRENT_BUILTINS:
        layer = interop.recurrent_builtin(entry.name, config, weights, "tf")

        def call(x, mask):
            # Keras' own masking (zeros past each length, the state held there), as the twin's mask.
            return (layer(x, mask=mask),)

        return call, list(layer.trainable_variables)
    raise ValueError(f"unknown Keras built-in {case.impl!r}")


def build(case, entry, config, weights, inputs: dict[str, np.ndarray]):
    """Return a no-argument step that runs the case once and waits for the device."""
    with tf.device(_device(case.device)):
        call, variables = builtin_or_twin(case, entry, config, weights)
        x = {n: tf.constant(cast_to(v, case.dtype) if v.dtype.kind == "f" else v) for n, v in inputs.items()}
    float_inputs = [t for t in x.values() if t.dtype.is_floating]

    def forward():
        return call(**x)

    def train():
        with tf.GradientTape() as tape:
            tape.watch(float_inputs)
            outputs = call(**x)
            loss = tf.add_n([tf.reduce_sum(o) for o in outputs if o is not None and o.dtype.is_floating])
        return tape.gradient(loss, variables + float_inputs)

    fn = forward if case.pass_ == "forward" else train
    if case.mode == "graph":
        fn = tf.function(fn)
    elif case.mode == "xla":
        fn = tf.function(fn, jit_compile=True)

    def step():
        with tf.device(_device(case.device)):
            fn()
        sync(case.device)

    return step


def generation_step(case, entry, config, weights, inputs: dict[str, np.ndarray]):
    """prefill: forward over the whole context, writing the caches; decode_cached: one token over
    caches holding context - 1 positions (the write index is reset before each step, so every step
    runs at the same context); decode_uncached: the full forward over the context for one token."""
    with tf.device(_device(case.device)):
        model = entry.build("tf", config, "float32", weights)
        tokens = tf.constant(inputs["tokens"])
        B, T = tokens.shape
        caches = model.init_cache(B)

    def prefill():
        for c in caches:
            c.length.assign(0)
        return model(tokens, caches=caches)

    def decode_cached():
        for c in caches:
            c.length.assign(T - 1)
        return model(tokens[:, -1:], caches=caches)

    def decode_uncached():
        return model(tokens)

    fn = {"prefill": prefill, "decode_cached": decode_cached, "decode_uncached": decode_uncached}[case.pass_]
    if case.mode == "graph":
        fn = tf.function(fn)
    elif case.mode == "xla":
        fn = tf.function(fn, jit_compile=True)
    with tf.device(_device(case.device)):
        prefill()  # the caches hold the context before any decode step

    def step():
        with tf.device(_device(case.device)):
            fn()
        sync(case.device)

    return step
