"""Property-based parity: random shapes, masks and configs, both twins against the float64 reference.

The registry's example inputs are a handful of fixed shapes; here hypothesis draws the shapes, any
boolean key mask (fully masked rows included), causal or not, both paths, and any right-padded
lengths (zero included) for the recurrent layers. Bounded (max_examples) to stay under a minute.
"""

import numpy as np
import pytest
from conftest import need

from twinmem import registry
from twinmem.parity import TOLERANCES, compare

hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies
SETTINGS = hypothesis.settings(max_examples=20, deadline=None, derandomize=True)


def _agree(name, config, inputs):
    """Both twins' outputs equal the reference's within the float64 tolerance, and are finite."""
    entry = registry.get(name)
    weights = entry.random_weights(config, seed=0)
    expected, _ = entry.reference(weights, config, **inputs)
    for fw in registry.FRAMEWORKS:
        need(fw)
        run = __import__(f"{fw}_impl.run", fromlist=["to_tensors", "to_numpy"])
        model = entry.build(fw, config, "float64", weights)
        got = model(**run.to_tensors(inputs, "float64"))
        for out_name, a, b in zip(entry.outputs, got, expected, strict=True):
            if b is None:
                assert a is None, (fw, out_name)
                continue
            a = run.to_numpy(a)
            _, max_rel, ok, where = compare(a, np.asarray(b), TOLERANCES["float64"], (fw, "reference"))
            assert ok, f"{fw} {name} {out_name}: max_rel {max_rel:.2e}, {where}"


@st.composite
def attention_cases(draw):
    name = draw(st.sampled_from(["scaled_dot_product_attention", "multi_head_attention"]))
    B, T = draw(st.integers(1, 3)), draw(st.integers(1, 6))
    causal, path = draw(st.booleans()), draw(st.sampled_from(["explicit", "fused"]))
    Tq = draw(st.integers(1, T)) if causal else draw(st.integers(1, 6))
    mask = np.array(draw(st.lists(st.booleans(), min_size=B * T, max_size=B * T)), bool).reshape(B, T)
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    if name == "scaled_dot_product_attention":
        d_k, d_v = draw(st.sampled_from([1, 2, 8])), draw(st.sampled_from([1, 3]))
        config = registry.get(name).make_config(key_dim=d_k, value_dim=d_v, causal=causal, path=path)
        q, k, v = (rng.standard_normal(s) for s in ((B, Tq, d_k), (B, T, d_k), (B, T, d_v)))
    else:
        H, d_h = draw(st.integers(1, 3)), draw(st.sampled_from([1, 2, 4]))
        D = draw(st.sampled_from([2, 6]))
        config = registry.get(name).make_config(d_model=D, num_heads=H, head_dim=d_h, causal=causal, path=path)
        q, k, v = (rng.standard_normal(s) for s in ((B, Tq, D), (B, T, D), (B, T, D)))
    return name, config, {"query": q, "key": k, "value": v, "mask": mask}


@SETTINGS
@hypothesis.given(attention_cases())
def test_attention_twins_agree_with_the_reference_on_any_shape_and_mask(case):
    _agree(*case)


@st.composite
def recurrent_cases(draw):
    name = draw(st.sampled_from(["rnn", "lstm", "gru"]))
    B, T = draw(st.integers(1, 3)), draw(st.integers(1, 5))
    overrides = dict(
        input_size=draw(st.integers(1, 4)),
        hidden_size=draw(st.integers(1, 4)),
        num_layers=draw(st.integers(1, 2)),
        bidirectional=draw(st.booleans()),
        path=draw(st.sampled_from(["explicit", "fused"])),
    )
    if name == "rnn":
        overrides["activation"] = draw(st.sampled_from(["tanh", "relu"]))
    config = registry.get(name).make_config(**overrides)
    lengths = np.array(draw(st.lists(st.integers(0, T), min_size=B, max_size=B)))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    x = rng.standard_normal((B, T, config.input_size))
    return name, config, {"x": x, "mask": np.arange(T)[None, :] < lengths[:, None]}


@SETTINGS
@hypothesis.given(recurrent_cases())
def test_recurrent_twins_agree_with_the_reference_on_any_shape_and_lengths(case):
    _agree(*case)
