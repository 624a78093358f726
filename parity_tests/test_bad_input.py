"""Bad input is refused by both twins with the same words, before it can give a silent wrong answer."""

import numpy as np
import pytest
from conftest import need

from twinmem import registry
from twinmem.parity import TOLERANCES

FRAMEWORKS = ["tf", "torch"]
RECURRENT = ["rnn", "lstm", "gru"]
PATHS = ["explicit", "fused"]


def _variant(entry):
    # The variant whose example inputs have every float input (the initial states of rnn, lstm, gru).
    return "initial_state" if "initial_state" in entry.variants else "default"


def _tensor(framework, x):
    """x as a tensor of exactly its NumPy dtype (no cast: the dtype is what is under test)."""
    if framework == "tf":
        import tensorflow as tf

        return tf.constant(x)
    import torch

    return torch.as_tensor(x)


def _build(framework, name, variant="default", dtype="float32", **overrides):
    entry = registry.get(name)
    config = entry.make_config(variant, **overrides)
    weights = entry.random_weights(config)
    return entry, config, weights, entry.build(framework, config, dtype, weights)


def _call(framework, model, dtype="float32", **inputs):
    run = __import__(f"{framework}_impl.run", fromlist=["to_tensors", "to_numpy"])
    return [run.to_numpy(o) for o in model(**run.to_tensors(inputs, dtype))]


def _example(name):
    entry = registry.get(name)
    return entry.make_inputs(entry.make_config(_variant(entry)), variant=_variant(entry))


FLOAT_INPUTS = [(name, n) for name in registry.names() for n, x in _example(name).items() if x.dtype.kind == "f"]


@pytest.mark.parametrize(("name", "input_name"), FLOAT_INPUTS)
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_float_input_of_another_dtype_is_refused(framework, name, input_name):
    need(framework)
    x = _example(name)
    for twin_dtype, wrong in (("float32", [np.float64, np.int64]), ("float64", [np.float32])):
        _, _, _, model = _build(framework, name, _variant(registry.get(name)), twin_dtype)
        inputs = {n: _tensor(framework, v.astype(twin_dtype) if v.dtype.kind == "f" else v) for n, v in x.items()}
        for given in wrong:
            inputs[input_name] = _tensor(framework, x[input_name].astype(given))
            match = rf"`{input_name}` of dtype {twin_dtype} \(the model's dtype\)\. Received: dtype {np.dtype(given)}"
            with pytest.raises(TypeError, match=match):
                model(**inputs)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_numpy_arrays_are_tensors_in_tf_and_a_clear_error_in_torch(framework):
    need(framework)
    entry, config, _, model = _build(framework, "additive_attention")
    x = {n: v.astype(np.float32) if v.dtype.kind == "f" else v for n, v in entry.make_inputs(config).items()}
    if framework == "tf":  # Keras makes tensors of NumPy arrays
        assert np.array_equal(np.asarray(model(**x)[0]), _call(framework, model, **x)[0])
    else:
        with pytest.raises(TypeError, match=r"Expected `query` to be a torch.Tensor\. Received: numpy.ndarray"):
            model(**x)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("name", RECURRENT)
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_recurrent_mask_must_be_right_padded(framework, name, path):
    need(framework)
    entry, config, _, model = _build(framework, name, path=path)
    x = entry.make_inputs(config)
    for row in ([True, False, True, True, True], [False, False, True, True, True]):  # a hole, left padding
        mask = x["mask"].copy()
        mask[1] = row
        with pytest.raises(ValueError, match=r"`mask` right-padded .* Received: row 1 = \["):
            _call(framework, model, **{**x, "mask": mask})


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_source_mask_must_be_right_padded(framework):
    need(framework)
    entry, config, _, model = _build(framework, "seq2seq_attention", path="fused")
    x = entry.make_inputs(config)
    x["source_mask"][0, 0] = False
    with pytest.raises(ValueError, match=r"`source_mask` right-padded"):
        _call(framework, model, **x)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("name", RECURRENT)
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_an_all_false_mask_row_gives_zero_outputs_and_the_initial_state(framework, name, path):
    # Every path agrees with the reference: zero outputs, the initial states as the final states
    # (torch's packed sequences refuse empty rows, so its fused path runs them one step and undoes it).
    need(framework)
    entry, config, weights, model = _build(framework, name, "initial_state", "float64", path=path)
    x = entry.make_inputs(config, variant="initial_state")
    x["mask"][1] = False
    got = _call(framework, model, "float64", **x)
    expected, _ = entry.reference(weights, config, **x)
    for g, e in zip(got, expected, strict=True):
        assert np.max(np.abs(g - e)) <= TOLERANCES["float64"] * max(np.max(np.abs(e)), 1.0)
    output, *states = got
    assert np.all(output[1] == 0.0)
    for state, initial in zip(states, (x["h_0"], x.get("c_0")), strict=False):
        assert np.array_equal(state[:, 1], initial[:, 1])


TOKEN_INPUTS = [
    ("memn2n", "stories"),
    ("memn2n", "query"),
    ("kv_memory_network", "query"),
    ("kv_memory_network", "keys"),
    ("kv_memory_network", "values"),
    ("seed_memory_network", "query"),
    ("seed_memory_network", "memory_indices"),
    ("lstm_language_model", "tokens"),
    ("seq2seq_attention", "source"),
    ("seq2seq_attention", "target"),
    ("tiny_gpt", "tokens"),
]


@pytest.mark.parametrize(("name", "input_name"), TOKEN_INPUTS)
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_token_ids_out_of_range_are_refused(framework, name, input_name):
    need(framework)
    entry, config, _, model = _build(framework, name)
    x = entry.make_inputs(config)
    vocab_size = getattr(config, f"{input_name}_vocab_size", getattr(config, "vocab_size", None))
    for bad in (-1, vocab_size):
        ids = x[input_name].copy()
        ids.flat[-1] = bad
        with pytest.raises(ValueError, match=rf"`{input_name}` ids in \[0, \w+ = {vocab_size}\)\. Received: id {bad}"):
            _call(framework, model, **{**x, input_name: ids})


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_greedy_decoding_refuses_a_bos_out_of_range(framework):
    need(framework)
    entry, config, _, model = _build(framework, "seq2seq_attention")
    x = {n: _tensor(framework, v) for n, v in entry.make_inputs(config).items()}
    with pytest.raises(ValueError, match=r"`bos` ids in \[0, target_vocab_size = 10\)"):
        model.greedy_decode(x["source"], x["source_mask"], config.target_vocab_size, 2)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_generate_refuses_float_tokens_and_a_float_max_new_tokens(framework):
    need(framework)
    _, _, _, model = _build(framework, "tiny_gpt")
    for prompt in (np.array([[1.7, 2.2]]), np.array([[1.0, 2.0]])):
        with pytest.raises(TypeError, match=r"`tokens` of an integer dtype \(token ids\)\. Received: dtype float64"):
            model.generate(prompt, 1)
    with pytest.raises(TypeError, match=r"`max_new_tokens` of type int\. Received: float"):
        model.generate(np.array([[1, 2]]), 2.5)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_refused_load_leaves_every_weight_as_it_was(framework):
    need(framework)
    _, _, weights, model = _build(framework, "additive_attention")
    before = model.export_canonical()
    bad = {n: w + 1.0 for n, w in weights.items()}
    bad["b_V"] = bad["b_V"].astype(np.int64)  # the last weight: every other one would be assigned before it
    with pytest.raises(TypeError, match=r"weight 'b_V' of a floating dtype"):
        model.load_canonical(bad)
    after = model.export_canonical()
    assert all(np.array_equal(before[n], after[n]) for n in before)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_cache_needs_query_key_and_value_of_the_same_steps(framework):
    need(framework)
    _, config, _, model = _build(framework, "multi_head_attention", "causal")
    q = _tensor(framework, np.zeros((2, 1, config.d_model), np.float32))
    kv = _tensor(framework, np.zeros((2, 3, config.d_model), np.float32))
    with pytest.raises(ValueError, match=r"`query`, `key` and `value` with the same number of steps"):
        model(q, kv, kv, cache=model.init_cache(2, 6))


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_cache_overflow_is_the_same_value_error(framework):
    need(framework)
    _, config, _, model = _build(framework, "multi_head_attention", "causal")
    x = _tensor(framework, np.zeros((2, 7, config.d_model), np.float32))
    with pytest.raises(ValueError, match=r"KV cache overflow: 0 \+ 7 positions exceed max_len = 6"):
        model(x, x, x, cache=model.init_cache(2, 6))
    if framework == "tf":  # in a graph the length is a value of the run: the assert op refuses it
        import tensorflow as tf

        cache = model.init_cache(2, 6)
        with pytest.raises(tf.errors.InvalidArgumentError, match="KV cache overflow"):
            tf.function(lambda x: model(x, x, x, cache=cache))(x)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_tiny_gpt_refuses_tokens_past_the_caches_room(framework):
    need(framework)
    _, config, _, model = _build(framework, "tiny_gpt")
    caches = model.init_cache(2)
    model(_tensor(framework, np.zeros((2, 6), np.int64)), caches=caches)
    with pytest.raises(ValueError, match=r"KV cache overflow: 6 \+ 3 positions exceed max_len = 8"):
        model(_tensor(framework, np.zeros((2, 3), np.int64)), caches=caches)


@pytest.mark.parametrize(
    ("name", "input_name"),
    [("ntm", "x"), ("lstm", "x"), ("gru", "x"), ("lstm_language_model", "tokens"), ("seq2seq_attention", "target")],
)
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_an_empty_time_axis_is_refused(framework, name, input_name):
    need(framework)
    entry, config, _, model = _build(framework, name)
    x = entry.make_inputs(config)
    x[input_name] = x[input_name][:, :0]
    if "mask" in x:
        x["mask"] = x["mask"][:, :0]
    with pytest.raises(ValueError, match=rf"`{input_name}` to have at least one step on axis 1"):
        _call(framework, model, **x)


@pytest.mark.parametrize("framework", ["tf", "torch"])
@pytest.mark.parametrize(("batch_size", "max_len"), [(0, 5), (2, -1), (2, 2.5)])
def test_a_cache_of_no_size_is_refused(framework, batch_size, max_len):
    need(framework)
    entry = registry.get("multi_head_attention")
    model = entry.build(framework, entry.make_config())
    with pytest.raises(ValueError, match="of a KV cache to be an int >= 1"):
        model.init_cache(batch_size, max_len)


@pytest.mark.parametrize("framework", ["tf", "torch"])
def test_greedy_decoding_takes_an_int_bos_only(framework):
    need(framework)
    run = __import__(f"{framework}_impl.run", fromlist=["to_tensors"])
    entry = registry.get("seq2seq_attention")
    config = entry.make_config()
    model = entry.build(framework, config)
    x = entry.make_inputs(config)
    t = x if framework == "tf" else run.to_tensors(x, "float32")  # TF takes NumPy arrays, torch tensors
    tokens, _ = model.greedy_decode(t["source"], t["source_mask"], 1, 2)
    assert tuple(tokens.shape) == (x["source"].shape[0], 2)
    with pytest.raises(TypeError, match="Expected `bos` of type int"):
        model.greedy_decode(t["source"], t["source_mask"], 1.7, 2)
