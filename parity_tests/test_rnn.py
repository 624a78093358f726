"""What the recurrent family promises beyond parity: padding, final states, both paths, bad input, sampling."""

import dataclasses

import numpy as np
import pytest
from conftest import need

from twinmem import registry
from twinmem.parity import TOLERANCES

FRAMEWORKS = ["tf", "torch"]
KINDS = ["rnn", "lstm", "gru"]
SHAPES = ["default", "bidirectional", "two_layers_bidirectional_fused", "initial_state"]


def _run(framework, model, dtype="float64", training=False, **inputs):
    run = __import__(f"{framework}_impl.run", fromlist=["to_tensors", "to_numpy"])
    x = run.to_tensors(inputs, dtype)
    if framework == "tf":
        outputs = model(**x, training=True) if training else model(**x)
    else:
        model.train(training)
        outputs = model(**x)
    return [run.to_numpy(o) for o in outputs]


def _build(framework, name, variant, dtype="float64", **overrides):
    entry = registry.get(name)
    config = entry.make_config(variant, **overrides)
    weights = entry.random_weights(config)
    return entry, config, entry.build(framework, config, dtype, weights)


def _close(a, b, dtype="float64"):
    return np.max(np.abs(a - b)) <= TOLERANCES[dtype] * max(np.max(np.abs(b)), 1.0)


@pytest.mark.parametrize("path", ["explicit", "fused"])
@pytest.mark.parametrize("variant", SHAPES)
@pytest.mark.parametrize("name", KINDS)
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_padding_is_zero_and_final_state_is_the_last_valid_step(framework, name, variant, path):
    need(framework)
    entry, config, model = _build(framework, name, variant, path=path)
    x = entry.make_inputs(config, variant=variant)
    output, *states = _run(framework, model, **x)
    mask = x["mask"]
    assert np.all(output[~mask] == 0.0), "outputs past a sequence's length must be exactly zero"
    assert not mask.all(), "the example mask must be ragged"
    for b, length in enumerate(mask.sum(1)):
        alone = {"x": x["x"][b : b + 1, :length]}
        alone.update({n: x[n][:, b : b + 1] for n in ("h_0", "c_0") if n in x})
        output_b, *states_b = _run(framework, model, **alone)
        assert _close(output[b : b + 1, :length], output_b), f"sequence {b}: outputs differ from the unpadded run"
        for s, s_b in zip(states, states_b, strict=True):
            assert _close(s[:, b : b + 1], s_b), f"sequence {b}: final state is not the state at its last valid step"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("variant", ["default", "bidirectional", "initial_state", "no_mask"])
@pytest.mark.parametrize("name", KINDS)
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_explicit_and_fused_paths_agree(framework, name, variant, dtype):
    need(framework)
    entry, config, explicit = _build(framework, name, variant, dtype, num_layers=2, path="explicit")
    fused = entry.build(framework, dataclasses.replace(config, path="fused"), dtype, explicit.export_canonical())
    x = entry.make_inputs(config, variant=variant)
    for a, b in zip(_run(framework, explicit, dtype, **x), _run(framework, fused, dtype, **x), strict=True):
        assert _close(a, b, dtype)


@pytest.mark.parametrize("path", ["explicit", "fused"])
@pytest.mark.parametrize("name", KINDS)
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_dropout_acts_in_training_only(framework, name, path):
    need(framework)
    entry, config, model = _build(framework, name, "two_layers", path=path, dropout=0.5)
    assert config.dropout == 0.5 and config.num_layers == 2
    _, _, no_dropout = _build(framework, name, "two_layers", path=path, dropout=0.0)
    x = entry.make_inputs(config)
    inference = _run(framework, model, **x)
    for a, b in zip(inference, _run(framework, no_dropout, **x), strict=True):
        assert np.array_equal(a, b), "dropout must be inactive in inference"
    training = _run(framework, model, training=True, **x)
    assert not np.allclose(training[0], inference[0]), "dropout between layers must act in training"


@pytest.mark.parametrize("path", ["explicit", "fused"])
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_bad_input_is_named(framework, path):
    need(framework)
    entry, config, model = _build(framework, "lstm", "default", path=path)
    x = entry.make_inputs(config)
    with pytest.raises(ValueError, match=r"`x` to have D = 5"):
        _run(framework, model, x=x["x"][..., :4], mask=x["mask"])
    with pytest.raises(ValueError, match=r"`x` of rank 3"):
        _run(framework, model, x=x["x"][0], mask=x["mask"])
    with pytest.raises(ValueError, match=r"`mask` of shape \(3, 5\)"):
        _run(framework, model, x=x["x"], mask=x["mask"][:, :4])
    with pytest.raises(TypeError, match=r"`mask` of dtype bool"):
        _run(framework, model, x=x["x"], mask=x["mask"].astype(np.float32))
    with pytest.raises(ValueError, match=r"`h_0` of shape \(1, 3, 6\)"):
        _run(framework, model, x=x["x"], h_0=np.zeros((1, 2, 6)))
    lm_entry, lm_config, lm = _build(framework, "lstm_language_model", "default", path=path)
    tokens = lm_entry.make_inputs(lm_config)["tokens"]
    with pytest.raises(TypeError, match=r"`tokens` of dtype int32 or int64"):
        _run(framework, lm, tokens=tokens.astype(np.float64))
    with pytest.raises(ValueError, match=r"`path` of RNNConfig to be one of \('explicit', 'fused'\)"):
        _build(framework, "rnn", "default", path="cudnn")
    with pytest.raises(ValueError, match=r"`activation` of RNNConfig to be one of \('tanh', 'relu'\)"):
        _build(framework, "rnn", "default", activation="gelu")


def _numpy_sample(logits, temperature, uniforms):
    if temperature == 0:
        return np.argmax(logits, axis=-1)
    z = logits / temperature
    p = np.exp(z - z.max(-1, keepdims=True))
    cdf = np.cumsum(p / p.sum(-1, keepdims=True), axis=-1)
    return np.minimum((cdf <= uniforms[:, None]).sum(-1), logits.shape[-1] - 1)


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("temperature", [0.0, 0.7, 1.0, 2.0])
def test_sampling_gives_the_same_tokens_in_both_twins(temperature, framework):
    # Both twins against the same NumPy draw, one framework per case (the torch half runs without TF).
    need(framework)
    entry = registry.get("lstm_language_model")
    config = entry.make_config()
    rng = np.random.default_rng(7)
    logits = rng.standard_normal((64, config.vocab_size)).astype(np.float32) * 3
    uniforms = rng.uniform(size=64)
    want = _numpy_sample(logits.astype(np.float64), temperature, uniforms)
    assert temperature == 0 or len(set(want.tolist())) > 1
    run = __import__(f"{framework}_impl.run", fromlist=["to_tensors", "to_numpy"])
    model = entry.build(framework, config)
    tokens = run.to_numpy(model.sample(run.to_tensors({"l": logits}, "float32")["l"], temperature, uniforms))
    assert tokens.dtype == np.int64 and np.array_equal(tokens, want), framework


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_sampling_arguments_are_checked(framework):
    need(framework)
    run = __import__(f"{framework}_impl.run", fromlist=["to_tensors"])
    entry = registry.get("lstm_language_model")
    model = entry.build(framework, entry.make_config())
    logits = run.to_tensors({"l": np.zeros((2, 11))}, "float32")["l"]
    with pytest.raises(ValueError, match=r"`uniforms` of shape \(2,\)"):
        model.sample(logits, 1.0, None)
    with pytest.raises(ValueError, match=r"`temperature` >= 0"):
        model.sample(logits, -1.0, np.zeros(2))


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_classifier_reads_the_last_valid_step(framework):
    need(framework)
    entry, config, model = _build(framework, "rnn_classifier", "default")
    x = entry.make_inputs(config)
    (logits,) = _run(framework, model, **x)
    for b, length in enumerate(x["mask"].sum(1)):
        (alone,) = _run(framework, model, x=x["x"][b : b + 1, :length])
        assert _close(logits[b : b + 1], alone)


def _greedy(framework: str, path: str, bos: int = 1, steps: int = 6):
    entry = registry.get("seq2seq_attention")
    config = entry.make_config(path=path)
    x = entry.make_inputs(config, batch=5)
    run = __import__(f"{framework}_impl.run", fromlist=["to_tensors", "to_numpy"])
    model = entry.build(framework, config, "float64", entry.random_weights(config))
    t = run.to_tensors(x, "float64")
    tokens, alphas = (run.to_numpy(o) for o in model.greedy_decode(t["source"], t["source_mask"], bos, steps))
    return model, x, tokens, alphas


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("path", ["explicit", "fused"])
def test_greedy_decoding_matches_teacher_forcing(path, framework):
    need(framework)
    bos, steps = 1, 6
    model, x, tokens, alphas = _greedy(framework, path, bos, steps)
    assert tokens.dtype == np.int64 and tokens.shape == (5, steps)
    assert np.all(alphas[~np.broadcast_to(x["source_mask"][:, None, :], alphas.shape)] == 0.0)
    # Feeding the greedy tokens back, shifted behind BOS, must reproduce them and their attention.
    target = np.concatenate([np.full((5, 1), bos), tokens[:, :-1]], axis=1).astype(np.int64)
    logits, forced_alphas = _run(framework, model, source=x["source"], source_mask=x["source_mask"], target=target)
    assert np.array_equal(np.argmax(logits, -1), tokens)
    assert _close(forced_alphas, alphas)


@pytest.mark.parametrize("path", ["explicit", "fused"])
def test_greedy_decoding_is_the_same_in_both_twins(path):
    need("tf")
    need("torch")
    assert np.array_equal(_greedy("tf", path)[2], _greedy("torch", path)[2])


def test_torch_compiled_fused_path_agrees():
    # The fused path's packed sequence under torch.compile (graph breaks at its host-side steps): it once
    # raised there (an IndexError in pad_packed_sequence) while eager ran. Forward and every gradient, with
    # a row of no valid step (its own branch).
    need("torch")
    import torch

    entry, config, model = _build("torch", "lstm", "default", "float64", path="fused")
    x = entry.make_inputs(config)
    x["mask"][0] = False
    run = __import__("torch_impl.run", fromlist=["to_tensors"])
    results = []
    for call in (model, torch.compile(model)):
        inputs = run.to_tensors(x, "float64")
        inputs["x"].requires_grad_()
        outputs = call(**inputs)
        sources = [inputs["x"], *model.parameters()]
        grads = torch.autograd.grad(sum(o.sum() for o in outputs), sources)
        results.append([t.detach().numpy() for t in (*outputs, *grads)])
    for eager, compiled in zip(*results, strict=True):
        assert _close(compiled, eager)
