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


def assert_16_bit_parity(name: str, variant: str, dtype: str) -> None:
    """Every record of a 16-bit (model, variant) within ``parity.TOLERANCES`` in u and ``SAME_ORDER``: the three
    pairs at once (the same-order check needs them all), weight gradients among the records."""
    from twinmem import parity

    for side in ("tf", "torch"):
        need(side)
    records, skipped = parity.check_model(name, variant, dtype)
    assert not skipped
    assert {r.pair for r in records} == {"tf-torch", "tf-reference", "torch-reference"}
    assert any(r.quantity.startswith("grad:weight:") for r in records)
    failed = [r for r in records if not r.ok]
    bound_u = parity.TOLERANCES[dtype] / parity.UNIT_ROUNDOFF[dtype]
    assert not failed, f"bound {bound_u:g} u:\n" + parity.failure_report(records)
