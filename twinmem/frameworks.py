"""Which frameworks this machine has, and equal thread counts for both (glue that needs both)."""

from __future__ import annotations

import functools
import importlib


@functools.cache
def unavailable(framework: str) -> str | None:
    """None if ``framework`` ("tf" or "torch") imports here, else the reason it does not."""
    module = {"tf": "tensorflow", "torch": "torch"}[framework]
    try:
        importlib.import_module(module)
    except ImportError as e:  # the GPU machine has torch but no TensorFlow, for one
        return f"{module} is not installed here ({e})"
    return None


def pin_threads(n: int) -> None:
    """The same intra-op thread count for both frameworks; TF gets one inter-op thread.

    torch's inter-op pool (used only by ``torch.jit.fork``, which no twin calls) is left as it is.
    """
    if unavailable("torch") is None:
        import torch

        torch.set_num_threads(n)
    if unavailable("tf") is None:
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(n)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:  # TF refuses once its runtime has started; the first setting stands
            pass
