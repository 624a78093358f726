"""What the converter tests share: sizes, the tolerance check, torch tensors as NumPy, torch's kinds."""

import numpy as np

from twinmem.parity import TOLERANCES

N, L, H_IN, H = 3, 6, 5, 4  # batch, steps, input size, hidden size


def _close(a, b, dtype="float32") -> None:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    err = np.max(np.abs(a - b))
    assert err <= TOLERANCES[dtype] * max(np.max(np.abs(b)), 1.0), err


def _np(t):
    return t.detach().numpy() if hasattr(t, "detach") else np.asarray(t)


def _states(s) -> tuple:
    return s if isinstance(s, tuple) else (s,)


TORCH_KINDS = {"rnn_tanh": ("RNN", "tanh"), "rnn_relu": ("RNN", "relu"), "lstm": ("LSTM", None), "gru": ("GRU", None)}
