"""Forward, intermediates and gradients of every registry model: TF vs torch vs the reference.

Generic over the registry: a new entry is covered with no new test code.
"""

import functools

import pytest

from twinmem import parity, registry
from twinmem.frameworks import unavailable
from twinmem.reference.backend import HAS_AUTOGRAD

CASES = [(e.name, v) for e in registry.entries() for v in e.variants]


@functools.cache
def _records(name: str, variant: str, dtype: str):
    return parity.check_model(name, variant, dtype)


@pytest.mark.parametrize("pair", parity.PAIRS, ids=lambda p: f"{p[0]}-{p[1]}")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("name", "variant"), CASES, ids=[f"{n}[{v}]" for n, v in CASES])
def test_parity(name, variant, dtype, pair):
    for side in pair:
        if side != "reference" and unavailable(side):
            pytest.skip(unavailable(side))
    records, _ = _records(name, variant, dtype)
    mine = [r for r in records if r.pair == f"{pair[0]}-{pair[1]}"]
    assert mine, "no quantity was compared"
    if HAS_AUTOGRAD or "reference" not in pair:  # without autograd the oracle gives no gradients
        assert any(r.quantity.startswith("grad:") for r in mine), "no gradient was compared"
    failed = [r for r in mine if not r.ok]
    assert not failed, "twins part:\n" + parity.failure_report(mine)
