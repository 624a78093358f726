"""Training a twin, PyTorch side. Twin of ``tf_impl/train.py``: the same functions, optimizer and loss.

The driver (``twinmem/train.py``) feeds both twins the same canonical initial weights and the same
batches in the same order; these functions are the framework-specific part of one step.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import torch


def answer_logits(logits, answer_position):
    """The logits (B, V) at each row's answer position, from logits (B, T, V)."""
    return logits[torch.arange(logits.shape[0]), answer_position]


def answer_cross_entropy(logits, batch: Mapping) -> torch.Tensor:
    """Mean cross-entropy of the answer at its position (the only position a recall row is scored on)."""
    scores = answer_logits(logits, batch["answer_position"])  # (B, V)
    return torch.mean(torch.logsumexp(scores, dim=-1) - scores[torch.arange(scores.shape[0]), batch["answer"]])


LOSSES = {"answer_cross_entropy": answer_cross_entropy}


def make_optimizer(model, learning_rate: float):
    # The hyper-parameters both twins use. torch adds eps to sqrt(v_hat), Keras to sqrt(v) before the
    # bias correction: the updates differ by eps (1 - sqrt(1 - beta_2^t)) / sqrt(v), < 1e-5 relative
    # at gradient scales above 1e-3, i.e. float32 noise (test_train.py bounds the drift).
    return torch.optim.Adam(model.parameters(), lr=learning_rate, betas=(0.9, 0.999), eps=1e-8)


def to_tensors(batch: Mapping[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {n: torch.as_tensor(x) for n, x in batch.items()}


def make_train_step(model, optimizer, loss: str, inputs: tuple[str, ...]) -> Callable[[Mapping], float]:
    """One optimisation step on a batch of NumPy arrays; returns the loss before the update.

    ``inputs``: the names of the batch arrays the model takes, in order.
    """
    loss_fn = LOSSES[loss]

    # Eager: torch.compile costs more on a 2-core CPU than it saves on a model this small (TF's
    # twin needs its tf.function: TF's eager overhead is several times torch's).

    def train_step(batch: Mapping[str, np.ndarray]) -> float:
        x = to_tensors(batch)
        optimizer.zero_grad()
        value = loss_fn(model(*(x[n] for n in inputs))[0], x)
        value.backward()
        optimizer.step()
        return float(value.detach())

    return train_step


@torch.no_grad()
def answer_accuracy(model, batch: Mapping[str, np.ndarray], inputs: tuple[str, ...]) -> float:
    """Fraction of rows whose top logit at the answer position is the answer."""
    x = to_tensors(batch)
    scores = answer_logits(model(*(x[n] for n in inputs))[0], x["answer_position"])
    return float(torch.mean((torch.argmax(scores, dim=-1) == x["answer"]).to(torch.float64)))
