"""What the attention family promises beyond parity: masks, bad input, the key/value cache."""

import numpy as np
import pytest
from conftest import need

from twinmem import registry
from twinmem.parity import TOLERANCES


def _run(framework, model, **inputs):
    run = __import__(f"{framework}_impl.run", fromlist=["to_tensors", "to_numpy"])
    outputs = model(**run.to_tensors(inputs, "float32"))
    return [run.to_numpy(o) for o in outputs]


@pytest.mark.parametrize("framework", ["tf", "torch"])
@pytest.mark.parametrize(
    "name", ["additive_attention", "luong_attention", "scaled_dot_product_attention", "multi_head_attention"]
)
def test_masked_keys_get_exactly_zero_weight(framework, name):
    # The explicit path (the first variant); the fused path returns no weights, and parity checks
    # that its outputs and gradients equal the reference's, fully masked rows included.
    need(framework)
    entry = registry.get(name)
    config = entry.make_config(next(iter(entry.variants)))
    inputs = entry.make_inputs(config)
    _, weights = _run(framework, entry.build(framework, config, weights=entry.random_weights(config)), **inputs)
    mask = inputs["mask"]  # the last row masks every key
    keys_axis_mask = mask.reshape(mask.shape[0], *([1] * (weights.ndim - 2)), mask.shape[1])
    assert np.all(weights[np.broadcast_to(~keys_axis_mask, weights.shape)] == 0.0)
    assert np.all(np.isfinite(weights)) and np.all(weights[-1] == 0.0)
    assert np.max(np.abs(weights[0].sum(-1) - 1.0)) <= TOLERANCES["float32"]  # a float32 softmax sums to 1


@pytest.mark.parametrize("framework", ["tf", "torch"])
def test_bad_input_is_named(framework):
    need(framework)
    entry = registry.get("additive_attention")
    config = entry.make_config()
    model = entry.build(framework, config)
    x = entry.make_inputs(config)
    with pytest.raises(ValueError, match=r"`query` of rank 2 or 3"):
        _run(framework, model, query=x["query"][0, 0], values=x["values"])
    with pytest.raises(ValueError, match=r"`values` to have Dv = 6"):
        _run(framework, model, query=x["query"], values=x["values"][..., :5])
    with pytest.raises(ValueError, match=r"`mask` of shape \(4, 5\)"):
        _run(framework, model, query=x["query"], values=x["values"], mask=x["mask"][:, :4])
    with pytest.raises(TypeError, match=r"`mask` of dtype bool"):
        _run(framework, model, query=x["query"], values=x["values"], mask=x["mask"].astype(np.float32))


@pytest.mark.parametrize("path", ["explicit", "fused"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("framework", ["tf", "torch"])
def test_kv_cache_steps_equal_full_forward(framework, dtype, path):
    need(framework)
    run = __import__(f"{framework}_impl.run", fromlist=["to_tensors", "to_numpy"])
    entry = registry.get("multi_head_attention")
    config = entry.make_config("causal", path=path)
    model = entry.build(framework, config, dtype, entry.random_weights(config))
    x = run.to_tensors({"x": np.random.default_rng(0).standard_normal((2, 7, config.d_model))}, dtype)["x"]
    full, _ = model(x, x, x)
    cache = model.init_cache(batch_size=2, max_len=9)
    prompt, steps = x[:, :3], [x[:, t : t + 1] for t in range(3, 7)]
    outs = [model(prompt, prompt, prompt, cache=cache)[0]] + [model(s, s, s, cache=cache)[0] for s in steps]
    cached = np.concatenate([run.to_numpy(o) for o in outs], axis=1)
    full = run.to_numpy(full)
    assert np.max(np.abs(cached - full)) <= TOLERANCES[dtype] * max(np.max(np.abs(full)), 1.0)
    with pytest.raises(ValueError, match="batch size 2"):
        model(x[:1, :1], x[:1, :1], x[:1, :1], cache=cache)
    # Eagerly both twins raise the same ValueError (in a TF graph, the assert op says the same words).
    with pytest.raises(ValueError, match="KV cache overflow"):
        model(x[:, :3], x[:, :3], x[:, :3], cache=cache)  # 7 written + 3 > max_len 9


@pytest.mark.parametrize(
    ("name", "overrides", "message"),
    [
        ("multi_head_attention", {"num_heads": 0}, r"`num_heads` of MultiHeadAttentionConfig to be an int >= 1"),
        ("multi_head_attention", {"causal": "no"}, r"`causal` of MultiHeadAttentionConfig to be True or False"),
        ("scaled_dot_product_attention", {"path": "flash"}, r"`path` of .* to be one of \('explicit', 'fused'\)"),
        ("luong_attention", {"score": "cosine"}, r"`score` of LuongAttentionConfig to be one of"),
        ("additive_attention", {"units": 2.5}, r"`units` of AdditiveAttentionConfig to be an int >= 1"),
    ],
)
def test_a_config_value_that_means_nothing_is_refused_by_name(name, overrides, message):
    # Before: num_heads=0 built a layer that returned zeros, causal="no" meant True.
    with pytest.raises(ValueError, match=message):
        registry.get(name).make_config(**overrides)


@pytest.mark.parametrize("framework", ["tf", "torch"])
@pytest.mark.parametrize(
    ("name", "variant"),
    [
        ("additive_attention", "default"),
        ("luong_attention", "general"),
        ("scaled_dot_product_attention", "default"),
        ("scaled_dot_product_attention", "fused"),
        ("multi_head_attention", "causal"),
        ("multi_head_attention", "causal_fused"),
    ],
)
def test_nan_and_inf_at_masked_positions_have_no_influence(framework, name, variant):
    # Masked means "has no influence": before, the zero weight met the NaN as 0 * NaN = NaN.
    need(framework)
    entry = registry.get(name)
    config = entry.make_config(variant)
    model = entry.build(framework, config, "float64", entry.random_weights(config))
    inputs = entry.make_inputs(config, variant=variant)
    clean = _run64(framework, model, inputs)
    poisoned = dict(inputs)
    for n in ("values", "key", "value"):
        if n in inputs:
            x = inputs[n].copy()
            x[~inputs["mask"]] = np.nan
            x[~inputs["mask"] & (np.arange(x.shape[1]) % 2 == 0)] = np.inf
            poisoned[n] = x
    for a, b in zip(clean, _run64(framework, model, poisoned), strict=True):
        if a is not None:
            np.testing.assert_array_equal(a, b)


def _run64(framework, model, inputs):
    run = __import__(f"{framework}_impl.run", fromlist=["to_tensors", "to_numpy"])
    return [None if o is None else run.to_numpy(o) for o in model(**run.to_tensors(inputs, "float64"))]


@pytest.mark.parametrize("framework", ["tf", "torch"])
@pytest.mark.parametrize("name", ["scaled_dot_product_attention", "multi_head_attention"])
def test_fused_path_with_left_padding_gives_the_explicit_outputs(framework, name):
    # Left padding under a causal mask: the first queries of a row have no key while later ones do (the
    # bench and parity inputs pad on the right only). The fused kernel's bias then puts those queries'
    # softmax on the padded keys before them, whose zeroed values must give an exact zero output.
    need(framework)
    entry = registry.get(name)
    explicit, fused = (entry.make_config("causal", path=p) for p in ("explicit", "fused"))
    weights = entry.random_weights(explicit)
    inputs = entry.make_inputs(explicit, batch=3, q_len=6, kv_len=6)
    inputs["mask"] = np.array([[False, False, True, True, True, True], [False] * 5 + [True], [True] * 6])
    want = _run64(framework, entry.build(framework, explicit, "float64", weights), inputs)[0]
    got = _run64(framework, entry.build(framework, fused, "float64", weights), inputs)[0]
    if name == "scaled_dot_product_attention":  # MHA's output is W_o's bias there
        assert np.all(got[0, :2] == 0.0) and np.all(got[1, :5] == 0.0)
    np.testing.assert_allclose(got, want, rtol=0, atol=TOLERANCES["float64"])
