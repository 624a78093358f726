"""What the transformer family promises beyond parity: cached decoding, generation, bad input."""

import os

import numpy as np
import pytest
from conftest import need

from twinmem import registry
from twinmem.configs.transformer import LAYER_NORM_EPS, padded_positions
from twinmem.parity import TOLERANCES
from twinmem.reference import transformer as ref

FRAMEWORKS = ["tf", "torch"]


def _model(framework, dtype="float32", variant="default", **overrides):
    entry = registry.get("tiny_gpt")
    config = entry.make_config(variant, **overrides)
    return entry.build(framework, config, dtype, entry.random_weights(config, seed=0)), config


def _prompt(config, batch=3, steps=3, seed=1):
    return np.random.default_rng(seed).integers(0, config.vocab_size, (batch, steps)).astype(np.int64)


@pytest.mark.parametrize("variant", ["untied", "fused"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_cached_steps_equal_full_forward(framework, dtype, variant):
    need(framework)
    run = __import__(f"{framework}_impl.run", fromlist=["to_tensors", "to_numpy"])
    model, config = _model(framework, dtype, variant)
    tokens = run.to_tensors({"t": _prompt(config, steps=config.max_len)}, dtype)["t"]
    (full,) = model(tokens)
    caches = model.init_cache(3)
    outs = [model(tokens[:, :3], caches=caches)[0]]  # prefill
    outs += [model(tokens[:, t : t + 1], caches=caches)[0] for t in range(3, config.max_len)]
    cached = np.concatenate([run.to_numpy(o) for o in outs], axis=1)
    full = run.to_numpy(full)
    assert np.max(np.abs(cached - full)) <= TOLERANCES[dtype] * max(np.max(np.abs(full)), 1.0)


def test_gelu_and_layer_norm_match_the_reference_in_float64():
    need("tf")
    need("torch")
    import tensorflow as tf
    import torch

    import tf_impl.transformer as tft
    import torch_impl.transformer as tot

    x = np.linspace(-8, 8, 10001)
    want = ref.gelu(x)  # |gelu| <= 8 here: 1e-14 is a few ulps
    assert np.max(np.abs(tft.gelu(tf.constant(x)).numpy() - want)) <= 1e-14
    assert np.max(np.abs(tot.gelu(torch.tensor(x)).numpy() - want)) <= 1e-14
    # torch's fused kernel computes the same tanh form (TF's fused one does not reach 1e-12 in float64).
    assert np.max(np.abs(torch.nn.functional.gelu(torch.tensor(x), approximate="tanh").numpy() - want)) <= 1e-14
    h = np.random.default_rng(0).standard_normal((4, 16)) * 3.0 + 1.0
    w = {"gamma": np.linspace(0.5, 1.5, 16), "beta": np.linspace(-0.1, 0.1, 16)}
    want = ref.layer_norm(w, h, LAYER_NORM_EPS)
    torch_ln = torch.nn.functional.layer_norm(torch.tensor(h), (16,), torch.tensor(w["gamma"]), torch.tensor(w["beta"]))
    assert np.max(np.abs(torch_ln.numpy() - want)) <= 1e-14  # same epsilon and biased variance as torch's


def _close(a, b, dtype):
    return np.max(np.abs(a - b)) <= TOLERANCES[dtype] * max(np.max(np.abs(b)), 1.0)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_given_positions_match_the_reference_with_and_without_caches(framework, dtype):
    """Each row's own positions (transformers' position_ids): the twin against the float64 oracle, and
    cached steps against the full forward; a left-padded row's pad queries give finite logits."""
    need(framework)
    run = __import__(f"{framework}_impl.run", fromlist=["to_tensors", "to_numpy"])
    entry = registry.get("tiny_gpt")
    config = entry.make_config("untied", layer_norm_eps=0.05)  # another epsilon, read from the config
    weights = entry.random_weights(config, seed=0)
    model = entry.build(framework, config, dtype, weights)
    tokens = _prompt(config, steps=config.max_len)
    mask = np.ones(tokens.shape, bool)
    mask[1, :3], mask[2, :6] = False, False  # left padding: rows of 8, 5 and 2 real tokens
    positions = padded_positions(mask)
    assert positions[2].tolist() == [0, 0, 0, 0, 0, 0, 0, 1]
    x = run.to_tensors({"tokens": tokens, "mask": mask, "positions": positions}, dtype)
    (logits,) = model(**x)
    logits = run.to_numpy(logits)
    assert np.isfinite(logits).all(), "a fully masked (pad) query row gives zeros, never NaN"
    (want,), _ = ref.tiny_gpt(weights, config, tokens, mask, positions)
    assert _close(logits, want, dtype)
    (unpadded,), _ = ref.tiny_gpt(weights, config, tokens[2:, 6:])  # the row as it would be without its pads
    assert _close(logits[2:, 6:], unpadded, dtype)
    caches = model.init_cache(3)
    key_mask = run.to_tensors({"m": mask}, dtype)["m"]  # all T_max slots: the mask a cache takes
    outs = [model(x["tokens"][:, :3], mask=key_mask, positions=x["positions"][:, :3], caches=caches)[0]]
    for t in range(3, config.max_len):
        outs.append(
            model(x["tokens"][:, t : t + 1], mask=key_mask, positions=x["positions"][:, t : t + 1], caches=caches)[0]
        )
    cached = np.concatenate([run.to_numpy(o) for o in outs], axis=1)
    assert _close(cached[mask], logits[mask], dtype)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_bad_positions_and_generate_masks_are_named(framework):
    need(framework)
    run = __import__(f"{framework}_impl.run", fromlist=["to_tensors"])
    model, config = _model(framework)
    prompt = _prompt(config)
    x = run.to_tensors({"tokens": prompt}, "float32")

    def positions(p):
        return run.to_tensors({"p": np.asarray(p)}, "float32")["p"]

    with pytest.raises(ValueError, match=r"`positions` of rank 2 with shape \(B, T\)"):
        model(**x, positions=positions(np.arange(3)))
    with pytest.raises(ValueError, match=r"`positions` axis 1 to match `tokens` axis 1"):
        model(**x, positions=positions(np.zeros((3, 2), np.int64)))
    with pytest.raises(TypeError, match=r"`positions` of dtype int32 or int64"):
        model(**x, positions=positions(np.zeros((3, 3), np.float32)))
    with pytest.raises(ValueError, match=r"`positions` ids in \[0, max_len = 8\). Received: id 8"):
        model(**x, positions=positions(np.full((3, 3), 8)))
    with pytest.raises(ValueError, match=r"`mask` True at the last prompt step of every row.*row 1 = \[1, 1, 0\]"):
        model.generate(prompt, 2, mask=np.array([[1, 1, 1], [1, 1, 0], [0, 0, 1]], bool))
    with pytest.raises(ValueError, match=r"`mask` of shape \(3, 3\)"):
        model.generate(prompt, 2, mask=np.ones((3, 4), bool))
    entry = registry.get("tiny_gpt")
    for eps in (0.0, -1e-5, float("nan"), "1e-5"):
        with pytest.raises(ValueError, match=r"`layer_norm_eps` of TinyGPTConfig to be a finite number"):
            entry.make_config(layer_norm_eps=eps)


@pytest.mark.parametrize("graph", [False, True], ids=["eager", "graph"])
@pytest.mark.parametrize("variant", ["default", "untied", "fused"])
def test_greedy_generation_agrees_across_twins_and_without_cache(variant, graph):
    need("tf")
    need("torch")
    results = {}
    for fw in FRAMEWORKS:
        model, config = _model(fw, variant=variant)
        prompt = _prompt(config)
        # torch.compile takes about a minute on 2 CPU cores: its own (slow) test covers it.
        use_graph = graph and fw == "tf"
        results[fw] = np.asarray(model.generate(prompt, 5, use_cache=True, graph=use_graph))
        results[f"{fw} uncached"] = np.asarray(model.generate(prompt, 5, use_cache=False))
    first = results["tf"]
    assert first.shape == (3, 8) and np.array_equal(first[:, :3], prompt)
    for name, tokens in results.items():
        assert np.array_equal(tokens, first), f"{name} differs: {tokens.tolist()} vs {first.tolist()}"


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_fused_attention_generates_the_explicit_paths_tokens(framework):
    # The same weights (same shapes, same seed): the fused kernel must decode what the explicit path does.
    need(framework)
    tokens = {}
    for variant in ("default", "fused"):
        model, config = _model(framework, variant=variant)
        tokens[variant] = np.asarray(model.generate(_prompt(config), 5, use_cache=True))
    np.testing.assert_array_equal(tokens["fused"], tokens["default"])


def test_sampling_with_given_uniforms_agrees():
    need("tf")
    need("torch")
    uniforms = np.random.default_rng(2).random((3, 5))
    for top_k in (None, 4):
        results = []
        for fw in FRAMEWORKS:
            model, config = _model(fw)
            for use_cache in (True, False):
                out = model.generate(
                    _prompt(config), 5, temperature=0.8, top_k=top_k, uniforms=uniforms, use_cache=use_cache
                )
                results.append(np.asarray(out))
        assert all(np.array_equal(r, results[0]) for r in results), [r.tolist() for r in results]
    # Each draw is the first token whose CDF exceeds u: u = 0 gives the most likely kept token under top_k=1.
    model, config = _model("torch")
    greedy = np.asarray(model.generate(_prompt(config), 5))
    top1 = np.asarray(model.generate(_prompt(config), 5, temperature=1.0, top_k=1, uniforms=uniforms))
    assert np.array_equal(greedy, top1)


def test_tf_graph_decoding_traces_once_per_shape():
    need("tf")
    import tensorflow as tf

    model, config = _model("tf")
    caches = model.init_cache(3)
    step = tf.function(lambda t: model(t, caches=caches)[0])
    step(tf.constant(_prompt(config, steps=2)))
    for t in range(config.max_len - 2):
        step(tf.constant(_prompt(config, steps=1, seed=t)))
    assert step.experimental_get_tracing_count() == 2  # the prompt's shape and the step's, never per step
    assert int(caches[0].length) == config.max_len


@pytest.mark.skipif(
    not os.environ.get("TWINMEM_SLOW"), reason="torch.compile takes ~1 min on 2 CPU cores; TWINMEM_SLOW=1"
)
def test_torch_compiled_generation_agrees():
    need("torch")
    model, config = _model("torch")
    prompt = _prompt(config)
    # generate(graph=True) decodes under the stance "fail_on_recompile" after the first step.
    assert np.array_equal(np.asarray(model.generate(prompt, 5, graph=True)), np.asarray(model.generate(prompt, 5)))


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_bad_input_is_named(framework):
    need(framework)
    run = __import__(f"{framework}_impl.run", fromlist=["to_tensors"])
    model, config = _model(framework)
    prompt = _prompt(config)
    with pytest.raises(ValueError, match=r"prompt `tokens` of 1 to max_len = 8 steps"):
        model.generate(_prompt(config, steps=9), 1)
    with pytest.raises(ValueError, match=r"`tokens` ids in \[0, vocab_size = 13\). Received: id 13"):
        model.generate(np.where(prompt == prompt[0, 0], 13, prompt), 1)
    with pytest.raises(ValueError, match=r"`tokens` ids in \[0, vocab_size = 13\). Received: id -1"):
        model(**run.to_tensors({"tokens": np.full((2, 3), -1)}, "float32"))
    with pytest.raises(ValueError, match=r"`max_new_tokens` in \[1, max_len - prompt length = 5\]"):
        model.generate(prompt, 6)
    with pytest.raises(ValueError, match=r"`tokens` of at most max_len = 8 steps"):
        model(**run.to_tensors({"tokens": _prompt(config, steps=9)}, "float32"))
    with pytest.raises(ValueError, match=r"`tokens` with batch size 2 \(the caches'\). Received: 3"):
        model(**run.to_tensors({"tokens": prompt}, "float32"), caches=model.init_cache(2))
    with pytest.raises(ValueError, match=r"`uniforms` \(B, max_new_tokens\)"):
        model.generate(prompt, 2, temperature=1.0)
    with pytest.raises(ValueError, match=r"`uniforms` of shape \(3, 2\)"):
        model.generate(prompt, 2, temperature=1.0, uniforms=np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"`top_k` in \[1, vocab_size = 13\]"):
        model.generate(prompt, 2, temperature=1.0, top_k=0, uniforms=np.zeros((3, 2)))


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_tied_head_has_no_weight_of_its_own(framework):
    need(framework)
    tied, _ = _model(framework)
    untied, _ = _model(framework, variant="untied")
    assert "W_head" not in tied.canonical_variables()
    assert list(untied.canonical_variables())[-1] == "W_head"


def test_generate_command_agrees_and_names_bad_arguments(capsys):
    need("tf")
    need("torch")
    import argparse

    from twinmem.generate import add_parser

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["generate", "--framework", "both", "--temperature", "0.7", "--top-k", "5", "--seed", "4"])
    assert args.func(args) == 0
    assert "all 4 decodings agree token for token" in capsys.readouterr().out
    args = parser.parse_args(["generate", "--framework", "tf", "--prompt-len", "6", "--new-tokens", "3"])
    with pytest.raises(ValueError, match="`max_new_tokens`"):
        args.func(args)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_nan_temperature_and_uniforms_are_refused(framework):
    # Before: NaN passed `temperature < 0` and the uniforms' range check, and decoding drew token 0.
    need(framework)
    model, config = _model(framework)
    prompt = _prompt(config)
    for t in (float("nan"), float("inf"), -1.0):
        with pytest.raises(ValueError, match="`temperature` to be a finite number >= 0"):
            model.generate(prompt, 2, temperature=t, uniforms=np.full((3, 2), 0.5))
    with pytest.raises(ValueError, match="`uniforms` of shape"):
        model.generate(prompt, 2, temperature=1.0, uniforms=np.full((3, 2), np.nan))
