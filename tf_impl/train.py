"""Training a twin, TensorFlow side. Twin of ``torch_impl/train.py``: the same functions, optimizer and loss.

The driver (``twinmem/train.py``) feeds both twins the same canonical initial weights and the same
batches in the same order; these functions are the framework-specific part of one step.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import keras
import numpy as np
import tensorflow as tf


def answer_logits(logits, answer_position):
    """The logits (B, V) at each row's answer position, from logits (B, T, V)."""
    return tf.gather(logits, answer_position, batch_dims=1)


def answer_cross_entropy(logits, batch: Mapping) -> tf.Tensor:
    """Mean cross-entropy of the answer at its position (the only position a recall row is scored on)."""
    scores = answer_logits(logits, batch["answer_position"])  # (B, V)
    return tf.reduce_mean(tf.reduce_logsumexp(scores, axis=-1) - tf.gather(scores, batch["answer"], batch_dims=1))


LOSSES = {"answer_cross_entropy": answer_cross_entropy}


def make_optimizer(model, learning_rate: float):
    # The hyper-parameters both twins use. torch adds eps to sqrt(v_hat), Keras to sqrt(v) before the
    # bias correction: the updates differ by eps (1 - sqrt(1 - beta_2^t)) / sqrt(v), < 1e-5 relative
    # at gradient scales above 1e-3, i.e. float32 noise (test_train.py bounds the drift).
    return keras.optimizers.Adam(learning_rate=learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-8)


def to_tensors(batch: Mapping[str, np.ndarray]) -> dict[str, tf.Tensor]:
    return {n: tf.constant(x) for n, x in batch.items()}


def make_train_step(model, optimizer, loss: str, inputs: tuple[str, ...]) -> Callable[[Mapping], float]:
    """One optimisation step on a batch of NumPy arrays; returns the loss before the update.

    ``inputs``: the names of the batch arrays the model takes, in order.
    """
    loss_fn = LOSSES[loss]
    variables = list(model.canonical_variables().values())

    # A tf.function: TF's eager step costs several times its graph on a model this small (traced
    # once, as every batch has the same shapes). torch stays eager (see its twin).
    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            value = loss_fn(model(*(x[n] for n in inputs))[0], x)
        optimizer.apply_gradients(zip(tape.gradient(value, variables), variables, strict=True))
        return value

    def train_step(batch: Mapping[str, np.ndarray]) -> float:
        return float(step(to_tensors(batch)))

    return train_step


def answer_accuracy(model, batch: Mapping[str, np.ndarray], inputs: tuple[str, ...]) -> float:
    """Fraction of rows whose top logit at the answer position is the answer."""
    x = to_tensors(batch)
    scores = answer_logits(model(*(x[n] for n in inputs))[0], x["answer_position"])
    return float(tf.reduce_mean(tf.cast(tf.argmax(scores, axis=-1) == x["answer"], tf.float64)))
