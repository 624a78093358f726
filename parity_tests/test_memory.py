"""What the memory family promises beyond parity: masks, normalised weightings, bad input, the tasks."""

import dataclasses

import numpy as np
import pytest
from conftest import need

from twinmem import registry
from twinmem.parity import TOLERANCES
from twinmem.tasks import babi, copy

FRAMEWORKS = ["tf", "torch"]


def _run(framework, model, dtype="float32", **inputs):
    run = __import__(f"{framework}_impl.run", fromlist=["to_tensors", "to_numpy"])
    outputs = model(**run.to_tensors(inputs, dtype))
    return [run.to_numpy(o) for o in outputs]


def _build(framework, name, variant="default", dtype="float32", **overrides):
    entry = registry.get(name)
    config = entry.make_config(variant, **overrides)
    return entry, config, entry.build(framework, config, dtype, entry.random_weights(config))


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize(
    ("name", "variant"),
    [(n, v) for n in ("memn2n", "kv_memory_network") for v in registry.get(n).variants],
)
def test_padded_slots_get_exactly_zero_attention(framework, name, variant):
    need(framework)
    entry, config, model = _build(framework, name, variant)
    inputs = entry.make_inputs(config, 1, variant)
    _, p = _run(framework, model, **inputs)  # (B, K, M)
    slots = inputs["stories" if name == "memn2n" else "keys"]
    valid = np.any(slots != 0, axis=-1)  # (B, M); the last row has no slot at all
    assert not valid[-1].any() and valid[0].all()
    assert np.all(p[np.broadcast_to(~valid[:, None, :], p.shape)] == 0.0)
    assert np.all(np.isfinite(p))
    if not getattr(config, "linear_start", False):
        sums = p.sum(-1)[valid.any(-1)]
        assert np.max(np.abs(sums - 1.0)) <= TOLERANCES["float32"]  # a float32 softmax sums to 1


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_linear_start_is_switched_by_the_attribute(framework):
    need(framework)
    entry = registry.get("memn2n")
    config = entry.make_config("linear_start")
    weights = entry.random_weights(config)
    inputs = entry.make_inputs(config)
    model = entry.build(framework, config, "float64", weights)
    linear = _run(framework, model, "float64", **inputs)
    model.linear_start = False
    softmax = _run(framework, model, "float64", **inputs)
    plain = entry.build(framework, dataclasses.replace(config, linear_start=False), "float64", weights)
    expected = _run(framework, plain, "float64", **inputs)
    assert not np.allclose(linear[0], softmax[0])
    for a, b in zip(softmax, expected, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_seed_network_ignores_trailing_padding(framework):
    need(framework)
    entry, config, model = _build(framework, "seed_memory_network")
    x = entry.make_inputs(config)
    (out,) = _run(framework, model, **x)
    padded = {n: np.concatenate([v, np.zeros((v.shape[0], 3), v.dtype)], axis=1) for n, v in x.items()}
    (out_padded,) = _run(framework, model, **padded)
    assert out.shape == (x["query"].shape[0], config.output_size)
    np.testing.assert_array_equal(out_padded, out)  # a padded step carries the state through unchanged


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("variant", list(registry.get("ntm").variants))
def test_ntm_weightings_sum_to_one(framework, variant):
    need(framework)
    entry, config, model = _build(framework, "ntm", variant)
    x = entry.make_inputs(config, 1, variant)
    for inputs in (x, {"x": np.zeros_like(x["x"])}):  # zeros: keys may vanish, cosine stays finite
        y, read_weights, write_weights = _run(framework, model, **inputs)
        assert y.shape == (*x["x"].shape[:2], config.output_dim)
        for w in (read_weights, write_weights):
            assert w.shape == (*x["x"].shape[:2], config.memory_slots)
            assert np.all(w >= 0.0) and np.all(np.isfinite(w))
            assert np.max(np.abs(w.sum(-1) - 1.0)) <= TOLERANCES["float32"]


def test_ntm_gradient_is_finite_on_zero_memory():
    # A zero key against a fixed, nearly-zero memory: the eps under the square roots keeps it finite.
    need("torch")
    import torch

    entry, config, model = _build("torch", "ntm", "fixed_memory", "float64")
    with torch.no_grad():
        for name, v in model.named_parameters():
            if name.startswith("W_"):
                v.zero_()
    x = torch.zeros((2, 4, config.input_dim), dtype=torch.float64, requires_grad=True)
    y, read_weights, write_weights = model(x)
    (y.sum() + read_weights[..., 0].sum() + write_weights[..., 1].sum()).backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())
    assert torch.isfinite(x.grad).all()


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_bad_input_is_named(framework):
    need(framework)
    entry, config, model = _build(framework, "memn2n")
    x = entry.make_inputs(config)
    with pytest.raises(ValueError, match=r"`stories` to have M = 6 on axis 1"):
        _run(framework, model, stories=x["stories"][:, :5], query=x["query"])
    with pytest.raises(ValueError, match=r"`query` of rank 2 with shape \(B, S\)"):
        _run(framework, model, stories=x["stories"], query=x["query"][0])
    with pytest.raises(TypeError, match=r"`query` of dtype int32 or int64"):
        _run(framework, model, stories=x["stories"], query=x["query"].astype(np.float32))
    with pytest.raises(ValueError, match=r"`stories` axis 0 to match `query` axis 0"):
        _run(framework, model, stories=x["stories"][:2], query=x["query"])
    entry, config, model = _build(framework, "ntm")
    x = entry.make_inputs(config)["x"]
    with pytest.raises(ValueError, match=r"`x` to have I = 4 on axis 2"):
        _run(framework, model, x=x[..., :3])
    with pytest.raises(ValueError, match=r"`x` of rank 3 with shape \(B, T, I\)"):
        _run(framework, model, x=x[0])
    entry, config, model = _build(framework, "kv_memory_network")
    x = entry.make_inputs(config)
    with pytest.raises(ValueError, match=r"`values` to have S_v = 2 on axis 2"):
        _run(framework, model, query=x["query"], keys=x["keys"], values=x["keys"])
    entry, config, model = _build(framework, "seed_memory_network")
    x = entry.make_inputs(config)
    with pytest.raises(ValueError, match=r"`memory_indices` axis 0 to match `query` axis 0"):
        _run(framework, model, query=x["query"], memory_indices=x["memory_indices"][:1])


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_bad_config_is_named(framework):
    need(framework)
    with pytest.raises(ValueError, match=r"`tying` of MemN2NConfig to be one of \('adjacent', 'layerwise'\)"):
        _build(framework, "memn2n", tying="rnn")
    with pytest.raises(ValueError, match=r"`controller` of NTMConfig to be one of \('lstm', 'feedforward'\)"):
        _build(framework, "ntm", controller="gru")
    # Values that would build and mean nothing: no hops, a size of zero, a flag that is a string.
    with pytest.raises(ValueError, match=r"`hops` of MemN2NConfig to be an int >= 1. Received: 0"):
        _build(framework, "memn2n", hops=0)
    with pytest.raises(ValueError, match=r"`memory_slots` of NTMConfig to be an int >= 1. Received: -2"):
        _build(framework, "ntm", memory_slots=-2)
    with pytest.raises(ValueError, match=r"`temporal` of MemN2NConfig to be True or False. Received: 'no'"):
        _build(framework, "memn2n", temporal="no")


def test_copy_task_shapes_and_determinism():
    a, b = copy.copy_task(4, 5, bits=3, seed=7, min_len=1), copy.copy_task(4, 5, bits=3, seed=7, min_len=1)
    assert a["inputs"].shape == (4, 12, 5) and a["targets"].shape == (4, 12, 3) and a["mask"].shape == (4, 12)
    for n in a:
        np.testing.assert_array_equal(a[n], b[n])
    assert not np.array_equal(a["inputs"], copy.copy_task(4, 5, bits=3, seed=8, min_len=1)["inputs"])
    for row, L in enumerate(a["lengths"]):
        assert a["mask"][row].sum() == L
        np.testing.assert_array_equal(a["targets"][row, L + 2 : 2 * L + 2], a["inputs"][row, 1 : L + 1, :3])
        assert a["inputs"][row, 0, 3] == 1 and a["inputs"][row, L + 1, 4] == 1


def test_associative_recall_shapes_and_determinism():
    a = copy.associative_recall(3, num_items=4, item_len=2, bits=5, seed=1)
    b = copy.associative_recall(3, num_items=4, item_len=2, bits=5, seed=1)
    T = 4 * 3 + 2 * 2 + 2
    assert a["inputs"].shape == (3, T, 7) and a["targets"].shape == (3, T, 5) and a["mask"].shape == (3, T)
    for n in a:
        np.testing.assert_array_equal(a[n], b[n])
    for row, q in enumerate(a["query_index"]):
        item_after = a["inputs"][row, (q + 1) * 3 + 1 : (q + 1) * 3 + 3, :5]
        np.testing.assert_array_equal(a["targets"][row][a["mask"][row]], item_after)


@pytest.mark.parametrize("task", [1, 2])
def test_babi_shapes_determinism_and_answers(task):
    a = babi.generate(task, 16, memory_size=8, seed=3)
    b = babi.generate(task, 16, memory_size=8, seed=3)
    assert a["stories"].shape == (16, 8, babi.SENTENCE_LEN) and a["query"].shape == (16, babi.SENTENCE_LEN)
    assert a["answers"].shape == (16,) and a["supporting"].shape == (16, 2)
    for n in a:
        np.testing.assert_array_equal(a[n], b[n])
        assert a[n].dtype == np.int64
    locations = {babi.WORD_TO_ID[w] for w in babi.LOCATIONS}
    assert set(a["answers"].tolist()) <= locations
    for row in range(16):
        fact = babi.decode(a["stories"][row, a["supporting"][row, 0]]).split()
        assert babi.decode(a["query"][row]).startswith("where is")
        if task == 1:  # the supporting fact names the person asked about and the answer
            assert fact[0] == babi.decode(a["query"][row]).split()[-1] and fact[-1] == babi.VOCAB[a["answers"][row]]
        else:  # the second fact is where the person with the object was
            move = babi.decode(a["stories"][row, a["supporting"][row, 1]]).split()
            assert move[-1] == babi.VOCAB[a["answers"][row]] and move[0] == fact[0]
    assert babi.decode(babi.encode("Mary went to the kitchen.")) == "mary went to the kitchen"
    with pytest.raises(ValueError, match="unknown words"):
        babi.encode("mary flew to the moon")


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_memn2n_runs_on_babi(framework):
    need(framework)
    data = babi.generate(1, 5, memory_size=6, seed=0)
    entry, config, model = _build(framework, "memn2n", vocab_size=len(babi.VOCAB))
    logits, p = _run(framework, model, stories=data["stories"], query=data["query"])
    assert logits.shape == (5, len(babi.VOCAB)) and p.shape == (5, config.hops, 6)
