"""Training a twin, TensorFlow side. Twin of ``torch_impl/train.py``: the same functions, optimizer, losses and clipping.

The driver (``twinmem/train.py``) feeds both twins the same canonical initial weights and the same
batches in the same order; these functions are the framework-specific part of one step.

Mixed precision (``--dtype mixed_bfloat16`` / ``mixed_float16``): the optimizer updates a float32
twin (the master weights); each step rounds them once into a 16-bit twin (``copy_weights``), which
runs the forward and backward under its family's precision rules; the loss is float32, from upcast
logits, and the 16-bit gradients come back upcast to float32. float16 adds dynamic loss scaling
with Keras' ``LossScaleOptimizer`` (``make_loss_scaler``), on the schedule torch's twin gives its
``GradScaler``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from tf_impl.core import upcast


def answer_logits(logits, answer_position):
    """The logits (B, V) at each row's answer position, from logits (B, T, V)."""
    return tf.gather(logits, answer_position, batch_dims=1)


def answer_cross_entropy(logits, batch: Mapping) -> tf.Tensor:
    """Mean cross-entropy of the answer at its position (the only position a recall row is scored on)."""
    scores = answer_logits(logits, batch["answer_position"])  # (B, V)
    return tf.reduce_mean(tf.reduce_logsumexp(scores, axis=-1) - tf.gather(scores, batch["answer"], batch_dims=1))


def answers_cross_entropy(logits, batch: Mapping) -> tf.Tensor:
    """Mean cross-entropy of the answer word, from logits (B, V) (MemN2N on bAbI)."""
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(batch["answers"], logits))


def masked_bit_cross_entropy(y, batch: Mapping) -> tf.Tensor:
    """Sigmoid cross-entropy per bit of y (B, T, O), averaged over the bits of the steps where ``mask`` is True."""
    mask = tf.cast(batch["mask"], y.dtype)[..., None]  # (B, T, 1)
    bits = tf.nn.sigmoid_cross_entropy_with_logits(labels=batch["targets"], logits=y)  # (B, T, O)
    return tf.reduce_sum(bits * mask) / (tf.reduce_sum(mask) * y.shape[-1])


LOSSES = {
    "answer_cross_entropy": answer_cross_entropy,
    "answers_cross_entropy": answers_cross_entropy,
    "masked_bit_cross_entropy": masked_bit_cross_entropy,
}


class Adam(keras.optimizers.Adam):  # no twin: torch.optim.Adam already takes this step
    r"""Keras' Adam with torch's update, so that both twins take the same step.

    .. math::
        m_t = \beta_1 m_{t-1} + (1 - \beta_1) g_t, \quad v_t = \beta_2 v_{t-1} + (1 - \beta_2) g_t^2, \quad
        \theta_t = \theta_{t-1} - \frac{lr}{1 - \beta_1^t} \frac{m_t}{\sqrt{v_t} / \sqrt{1 - \beta_2^t} + \epsilon}

    Keras adds epsilon to sqrt(v_t) before the bias correction ("epsilon hat"): an update that
    differs by eps (1 / sqrt(1 - beta_2^t) - 1) / sqrt(v_hat) relative, 30 eps / sqrt(v_hat) at step 1.
    Negligible for tiny_gpt, whose gradient components are ~1e-3; the NTM's are ~1e-6, and that
    difference alone made the twins' copy-task losses differ by 4e-5 at step 10, in float64 as in
    float32 (with this update: 4e-8 in float64, 1e-7 in float32; docs/training.md).
    """

    def update_step(self, gradient, variable, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        step = ops.cast(self.iterations + 1, variable.dtype)
        bias_correction1 = 1 - ops.power(ops.cast(self.beta_1, variable.dtype), step)
        bias_correction2 = 1 - ops.power(ops.cast(self.beta_2, variable.dtype), step)
        m = self._momentums[self._get_variable_index(variable)]
        v = self._velocities[self._get_variable_index(variable)]
        self.assign_add(m, (gradient - m) * (1 - self.beta_1))  # torch's lerp_
        self.assign(v, v * self.beta_2 + gradient * gradient * (1 - self.beta_2))  # torch's mul_, addcmul_
        denom = ops.sqrt(v) / ops.sqrt(bias_correction2) + self.epsilon
        self.assign_sub(variable, (lr / bias_correction1) * m / denom)


def make_optimizer(model, learning_rate: float):
    # The hyper-parameters both twins use; the update is torch's (see Adam above).
    return Adam(learning_rate=learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-8)


def set_learning_rate(optimizer, learning_rate: float) -> None:
    """Change the rate of the next steps (a tf.Variable: the traced step reads it, no retrace)."""
    optimizer.learning_rate.assign(learning_rate)


def clip_by_global_norm(gradients: list, max_norm: float) -> tuple[list, tf.Tensor]:
    """torch's ``clip_grad_norm_``, written out: every gradient times min(1, max_norm / (norm + 1e-6)).

    norm is the 2-norm of the per-variable 2-norms, over the canonical variables in canonical order
    (the order torch's twin passes its parameters in). Returns the clipped gradients and norm.
    """
    # Not tf.clip_by_global_norm: it scales by max_norm / max(norm, max_norm), without torch's 1e-6.
    norm = tf.norm(tf.stack([tf.norm(g) for g in gradients]))
    scale = tf.minimum(max_norm / (norm + 1e-6), 1.0)
    return [g * scale for g in gradients], norm


def make_loss_scaler(optimizer, initial_scale: float, growth_interval: int) -> keras.optimizers.LossScaleOptimizer:
    """Dynamic loss scaling around ``optimizer``: Keras' ``LossScaleOptimizer``, configured as torch's twin
    configures ``GradScaler``.

    The scale starts at ``initial_scale``; a step whose gradients are not all finite is skipped (Adam's
    moments and step count untouched) and halves it; ``growth_interval`` finite steps in a row double it.
    Keras fixes the factors at 2 and 1/2; torch's twin sets its growth and backoff factors to them.
    """
    return keras.optimizers.LossScaleOptimizer(
        optimizer, initial_scale=initial_scale, dynamic_growth_steps=growth_interval
    )


def loss_scale(scaler) -> float:
    """The scale the next step multiplies its loss by."""
    # Unbuilt, Keras' optimizer has no scale variable yet: its scale_loss uses initial_scale.
    return float(scaler.dynamic_scale.numpy()) if scaler.built else float(scaler.initial_scale)


def copy_weights(source, target) -> None:
    """``target``'s canonical variables = ``source``'s, rounded once to ``target``'s dtype (to nearest, ties to
    even: ``twinmem.weights.cast_to``'s rule, which TF's cast from float32 follows)."""
    targets = target.canonical_variables()
    for name, variable in source.canonical_variables().items():
        targets[name].assign(tf.cast(variable, targets[name].dtype))


def to_tensors(batch: Mapping[str, np.ndarray]) -> dict[str, tf.Tensor]:
    return {n: tf.constant(x) for n, x in batch.items()}


def make_train_step(
    model,
    optimizer,
    loss: str,
    inputs: tuple[str, ...],
    clip_norm: float | None = None,
    master=None,
    scaler=None,
) -> Callable[[Mapping], tuple[float, float]]:
    """One optimisation step on a batch of NumPy arrays; returns the loss before the update and the
    global norm of the (unscaled, float32) gradients before clipping: not finite on a skipped step.

    ``inputs``: the names of the batch arrays the model takes, in order. ``clip_norm``: clip the
    gradients to this global norm (``clip_by_global_norm``) before the step; None = no clipping.
    ``master``: the float32 twin ``optimizer`` updates when ``model`` is a 16-bit twin (mixed precision;
    ``model``'s weights are rounded from it at the start of every step); None = ``model`` itself.
    ``scaler``: ``make_loss_scaler``'s, wrapping ``optimizer`` (float16); None = no loss scaling.
    """
    loss_fn = LOSSES[loss]
    master = model if master is None else master
    variables = list(model.canonical_variables().values())
    masters = list(master.canonical_variables().values())
    if scaler is not None and not scaler.built:
        # Before the trace: an unbuilt LossScaleOptimizer scales by its Python initial_scale, which the
        # trace would freeze into the graph.
        scaler.build(masters)

    # A tf.function: TF's eager step costs several times its graph on a model this small (traced
    # once, as every batch has the same shapes). torch stays eager (see its twin).
    @tf.function
    def step(x):
        if master is not model:
            copy_weights(master, model)
        with tf.GradientTape() as tape:
            # The loss in float32 from upcast logits (upcast: the logits themselves in float32 and float64).
            value = loss_fn(upcast(model(*(x[n] for n in inputs))[0]), x)
            scaled = value if scaler is None else scaler.scale_loss(value)
        # The 16-bit gradients in float32: what differentiating through a float32 -> 16-bit cast gives.
        gradients = [upcast(g) for g in tape.gradient(scaled, variables)]
        if scaler is not None:
            scale = tf.convert_to_tensor(scaler.dynamic_scale)
            gradients = [g / scale for g in gradients]  # exact: the scale is a power of 2
        if clip_norm is not None:
            gradients, norm = clip_by_global_norm(gradients, clip_norm)
        else:
            norm = tf.norm(tf.stack([tf.norm(g) for g in gradients]))
        if scaler is None:
            optimizer.apply_gradients(zip(gradients, masters, strict=True))
        else:
            # The LossScaleOptimizer takes scaled gradients, skips the step unless all are finite, unscales
            # and applies the Adam it wraps. Scaled again here (exact) so that the norm and the clipping
            # above see the unscaled ones, as in torch's twin (unscale_, clip, step).
            scaler.apply_gradients(zip([g * scale for g in gradients], masters, strict=True))
        return value, norm

    def train_step(batch: Mapping[str, np.ndarray]) -> tuple[float, float]:
        value, norm = step(to_tensors(batch))
        return float(value), float(norm)

    return train_step


def answer_accuracy(model, batch: Mapping[str, np.ndarray], inputs: tuple[str, ...]) -> float:
    """Fraction of rows whose top logit at the answer position is the answer."""
    x = to_tensors(batch)
    scores = answer_logits(model(*(x[n] for n in inputs))[0], x["answer_position"])
    return float(tf.reduce_mean(tf.cast(tf.argmax(scores, axis=-1) == x["answer"], tf.float64)))


def answers_accuracy(model, batch: Mapping[str, np.ndarray], inputs: tuple[str, ...]) -> float:
    """Fraction of rows whose top logit (B, V) is the answer word."""
    x = to_tensors(batch)
    logits = model(*(x[n] for n in inputs))[0]
    return float(tf.reduce_mean(tf.cast(tf.argmax(logits, axis=-1) == x["answers"], tf.float64)))


def bit_errors(model, batch: Mapping[str, np.ndarray], inputs: tuple[str, ...]) -> float:
    """Wrong bits per sequence: y > 0 (sigmoid(y) > 1/2) against the targets where the copy is due, summed
    over a row, averaged over rows."""
    x = to_tensors(batch)
    y = model(*(x[n] for n in inputs))[0]  # (B, T, O)
    wrong = tf.logical_and((y > 0.0) != (x["targets"] > 0.5), x["mask"][..., None])  # (B, T, O)
    return float(tf.reduce_mean(tf.reduce_sum(tf.cast(wrong, tf.float64), axis=[1, 2])))


MEASURES = {"answer_accuracy": answer_accuracy, "answers_accuracy": answers_accuracy, "bit_errors": bit_errors}
