"""Training a twin, PyTorch side. Twin of ``tf_impl/train.py``: the same functions, optimizer, losses and clipping.

The driver (``twinmem/train.py``) feeds both twins the same canonical initial weights and the same
batches in the same order; these functions are the framework-specific part of one step.

Mixed precision (``--dtype mixed_bfloat16`` / ``mixed_float16``): the optimizer updates a float32
twin (the master weights); each step rounds them once into a 16-bit twin (``copy_weights``), which
runs the forward and backward under its family's precision rules; the loss is float32, from upcast
logits, and the 16-bit gradients come back upcast to float32. float16 adds dynamic loss scaling
with torch's ``GradScaler`` (``make_loss_scaler``), on the schedule TF's twin gives Keras'
``LossScaleOptimizer``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import torch
import torch.nn.functional as F

from torch_impl.core import upcast


def answer_logits(logits, answer_position):
    """The logits (B, V) at each row's answer position, from logits (B, T, V)."""
    return logits[torch.arange(logits.shape[0]), answer_position]


def answer_cross_entropy(logits, batch: Mapping) -> torch.Tensor:
    """Mean cross-entropy of the answer at its position (the only position a recall row is scored on)."""
    scores = answer_logits(logits, batch["answer_position"])  # (B, V)
    return torch.mean(torch.logsumexp(scores, dim=-1) - scores[torch.arange(scores.shape[0]), batch["answer"]])


def answers_cross_entropy(logits, batch: Mapping) -> torch.Tensor:
    """Mean cross-entropy of the answer word, from logits (B, V) (MemN2N on bAbI)."""
    return F.cross_entropy(logits, batch["answers"])


def masked_bit_cross_entropy(y, batch: Mapping) -> torch.Tensor:
    """Sigmoid cross-entropy per bit of y (B, T, O), averaged over the bits of the steps where ``mask`` is True."""
    mask = batch["mask"].to(y.dtype)[..., None]  # (B, T, 1)
    bits = F.binary_cross_entropy_with_logits(y, batch["targets"], reduction="none")  # (B, T, O)
    return torch.sum(bits * mask) / (torch.sum(mask) * y.shape[-1])


LOSSES = {
    "answer_cross_entropy": answer_cross_entropy,
    "answers_cross_entropy": answers_cross_entropy,
    "masked_bit_cross_entropy": masked_bit_cross_entropy,
}


def make_optimizer(model, learning_rate: float):
    # The hyper-parameters both twins use. TF's twin subclasses Keras' Adam to take this update:
    # Keras adds eps before the bias correction, torch after (see tf_impl/train.py's Adam).
    return torch.optim.Adam(model.parameters(), lr=learning_rate, betas=(0.9, 0.999), eps=1e-8)


def set_learning_rate(optimizer, learning_rate: float) -> None:
    """Change the rate of the next steps."""
    for group in optimizer.param_groups:
        group["lr"] = learning_rate


def clip_by_global_norm(parameters: list, max_norm: float) -> torch.Tensor:
    """torch's ``clip_grad_norm_``: every gradient times min(1, max_norm / (norm + 1e-6)), in place.

    norm is the 2-norm of the per-variable 2-norms, over the canonical variables in canonical order
    (the order TF's twin passes its variables in). Returns the norm.
    """
    # In place on .grad, where TF's twin returns new gradients: each framework's own way to hold them.
    return torch.nn.utils.clip_grad_norm_(parameters, max_norm)


def make_loss_scaler(optimizer, initial_scale: float, growth_interval: int) -> torch.amp.GradScaler:
    """Dynamic loss scaling for ``optimizer``: torch's ``GradScaler``, configured as Keras' ``LossScaleOptimizer``
    in TF's twin.

    The scale starts at ``initial_scale``; a step whose gradients are not all finite is skipped (Adam's
    moments and step count untouched) and halves it; ``growth_interval`` finite steps in a row double it.
    Keras fixes the factors at 2 and 1/2; they are set to them here.
    """
    # GradScaler holds no optimizer (TF's twin wraps it): train_step passes it to scaler.step.
    return torch.amp.GradScaler(
        "cpu", init_scale=initial_scale, growth_factor=2.0, backoff_factor=0.5, growth_interval=growth_interval
    )


def loss_scale(scaler) -> float:
    """The scale the next step multiplies its loss by."""
    return float(scaler.get_scale())


@torch.no_grad()
def copy_weights(source, target) -> None:
    """``target``'s canonical variables = ``source``'s, rounded once to ``target``'s dtype (to nearest, ties to
    even: ``twinmem.weights.cast_to``'s rule, which torch's copy_ from float32 follows)."""
    targets = target.canonical_variables()
    for name, variable in source.canonical_variables().items():
        targets[name].copy_(variable)


def to_tensors(batch: Mapping[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {n: torch.as_tensor(x) for n, x in batch.items()}


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
    ``scaler``: ``make_loss_scaler``'s (float16); None = no loss scaling.
    """
    loss_fn = LOSSES[loss]
    master = model if master is None else master
    variables = list(model.canonical_variables().values())
    masters = list(master.canonical_variables().values())

    # Eager: torch.compile costs more on a 2-core CPU than it saves on a model this small (TF's
    # twin needs its tf.function: TF's eager overhead is several times torch's).

    def train_step(batch: Mapping[str, np.ndarray]) -> tuple[float, float]:
        x = to_tensors(batch)
        if master is not model:
            copy_weights(master, model)
        optimizer.zero_grad()
        # The loss in float32 from upcast logits (upcast: the logits themselves in float32 and float64).
        value = loss_fn(upcast(model(*(x[n] for n in inputs))[0]), x)
        (value if scaler is None else scaler.scale(value)).backward()
        if master is not model:
            # The 16-bit gradients in float32: what differentiating through a float32 -> 16-bit cast gives.
            for m, v in zip(masters, variables, strict=True):
                m.grad, v.grad = upcast(v.grad), None
        if scaler is not None:
            scaler.unscale_(optimizer)  # exact: the scale is a power of 2; records whether all are finite
        if clip_norm is not None:
            norm = clip_by_global_norm(masters, clip_norm)
        else:
            norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(v.grad) for v in masters]))
        if scaler is None:
            optimizer.step()
        else:
            scaler.step(optimizer)  # skipped unless every gradient is finite
            scaler.update()
        return float(value.detach()), float(norm)

    return train_step


@torch.no_grad()
def answer_accuracy(model, batch: Mapping[str, np.ndarray], inputs: tuple[str, ...]) -> float:
    """Fraction of rows whose top logit at the answer position is the answer."""
    x = to_tensors(batch)
    scores = answer_logits(model(*(x[n] for n in inputs))[0], x["answer_position"])
    return float(torch.mean((torch.argmax(scores, dim=-1) == x["answer"]).to(torch.float64)))


@torch.no_grad()
def answers_accuracy(model, batch: Mapping[str, np.ndarray], inputs: tuple[str, ...]) -> float:
    """Fraction of rows whose top logit (B, V) is the answer word."""
    x = to_tensors(batch)
    logits = model(*(x[n] for n in inputs))[0]
    return float(torch.mean((torch.argmax(logits, dim=-1) == x["answers"]).to(torch.float64)))


@torch.no_grad()
def bit_errors(model, batch: Mapping[str, np.ndarray], inputs: tuple[str, ...]) -> float:
    """Wrong bits per sequence: y > 0 (sigmoid(y) > 1/2) against the targets where the copy is due, summed
    over a row, averaged over rows."""
    x = to_tensors(batch)
    y = model(*(x[n] for n in inputs))[0]  # (B, T, O)
    wrong = torch.logical_and((y > 0.0) != (x["targets"] > 0.5), x["mask"][..., None])  # (B, T, O)
    return float(torch.mean(torch.sum(wrong.to(torch.float64), dim=(1, 2))))


MEASURES = {"answer_accuracy": answer_accuracy, "answers_accuracy": answers_accuracy, "bit_errors": bit_errors}
