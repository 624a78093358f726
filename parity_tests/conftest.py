import os

# Quiet TensorFlow's C++ start-up chatter (CUDA probing, oneDNN notice); errors still show.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from twinmem.frameworks import unavailable  # noqa: E402


def need(framework: str) -> None:
    """Skip, with the reason, a case that needs a framework this machine lacks (no TF on the GPU box)."""
    reason = unavailable(framework)
    if reason:
        pytest.skip(reason)
