"""The frameworks' own attention layers, loaded with canonical weights, compute what the twins do.

The benchmarks time these built-ins beside the twins, so they must be the same function.
"""

import numpy as np
import pytest
from conftest import need

from twinmem import interop, registry
from twinmem.parity import TOLERANCES


def _close(a, b, dtype):
    return np.max(np.abs(a - b)) <= TOLERANCES[dtype] * max(np.max(np.abs(b)), 1.0)


@pytest.mark.parametrize("variant", ["default", "causal"])
def test_torch_multihead_attention_matches_twin(variant):
    need("torch")
    import torch

    entry = registry.get("multi_head_attention")
    config = entry.make_config(variant)
    weights = entry.random_weights(config)
    x = {
        n: torch.as_tensor(v.astype(np.float32) if v.dtype.kind == "f" else v)
        for n, v in entry.make_inputs(config).items()
    }
    twin = entry.build("torch", config, weights=weights)
    out, _ = twin(**x)
    mha = interop.mha_to_torch(weights, config)
    T = x["key"].shape[1]
    # torch's boolean masks mean True = ignore: flip ours. A fully masked row is NaN in torch, so the
    # twin's defined zero is compared on the rows that keep at least one key.
    causal = torch.ones(T, T, dtype=torch.bool).triu(1) if config.causal else None
    ref, _ = mha(x["query"], x["key"], x["value"], key_padding_mask=~x["mask"], attn_mask=causal)
    keep = x["mask"].any(-1)
    assert _close(ref[keep].detach().numpy(), out[keep].detach().numpy(), "float32")


@pytest.mark.parametrize("variant", ["default", "causal"])
def test_keras_multihead_attention_matches_twin(variant):
    need("tf")
    import tensorflow as tf

    entry = registry.get("multi_head_attention")
    config = entry.make_config(variant)
    weights = entry.random_weights(config)
    x = {
        n: tf.constant(v.astype(np.float32) if v.dtype.kind == "f" else v) for n, v in entry.make_inputs(config).items()
    }
    twin = entry.build("tf", config, weights=weights)
    out, _ = twin(**x)
    mha = interop.mha_to_keras(weights, config)
    Tq = x["query"].shape[1]
    attention_mask = tf.repeat(x["mask"][:, None, :], Tq, axis=1)  # (B, Tq, T), True = attend
    ref = mha(x["query"], x["value"], x["key"], attention_mask=attention_mask, use_causal_mask=config.causal)
    keep = np.asarray(x["mask"]).any(-1)
    assert _close(np.asarray(ref)[keep], np.asarray(out)[keep], "float32")


def test_torch_sdpa_matches_twin():
    need("torch")
    import torch
    import torch.nn.functional as F

    entry = registry.get("scaled_dot_product_attention")
    config = entry.make_config("causal")
    x = {
        n: torch.as_tensor(v.astype(np.float32) if v.dtype.kind == "f" else v)
        for n, v in entry.make_inputs(config).items()
    }
    out, _ = entry.build("torch", config)(**x)
    T = x["key"].shape[1]
    mask = x["mask"][:, None, :] & torch.ones(T, T, dtype=torch.bool).tril()  # True = attend, as ours
    ref = F.scaled_dot_product_attention(x["query"], x["key"], x["value"], attn_mask=mask)
    keep = x["mask"].any(-1)
    assert _close(ref[keep].numpy(), out[keep].numpy(), "float32")


@pytest.mark.parametrize("framework", ["tf", "torch"])
@pytest.mark.parametrize("variant", ["default", "two_layers_fused", "two_layers_bidirectional_fused"])
@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_recurrent_builtin_bench_call_matches_twin(kind, variant, framework):
    """The built-in recurrent layers as the benchmarks call them (masked, padded batch) = the twin's output."""
    need(framework)
    from benchmarks.cases import BUILTINS, Case

    steps = __import__(f"benchmarks.{framework}_steps", fromlist=["builtin_or_twin"])
    entry = registry.get(kind)
    config = entry.make_config(variant)
    weights = entry.random_weights(config)
    inputs = {
        n: v.astype(np.float32) if v.dtype.kind == "f" else v for n, v in entry.make_inputs(config, batch=4).items()
    }
    assert not inputs["mask"].all(), "the inputs must pad some rows for this test to mean anything"
    (impl,) = BUILTINS[kind][framework]
    case = Case(kind, "test", framework, impl, "eager", "forward", "cpu")
    call, _ = steps.builtin_or_twin(case, entry, config, weights)
    twin, _ = steps.builtin_or_twin(
        Case(kind, "test", framework, "twin", "eager", "forward", "cpu"), entry, config, weights
    )
    # Imported here, for this framework only: the torch cases run where TensorFlow is not installed.
    to_tensor = __import__("tensorflow").constant if framework == "tf" else __import__("torch").as_tensor
    x = {n: to_tensor(v) for n, v in inputs.items()}
    (out,) = call(**x)
    expected = twin(**x)[0]
    out, expected = (np.asarray(t.detach() if framework == "torch" else t) for t in (out, expected))
    assert out.shape == expected.shape
    assert _close(out, expected, "float32"), np.max(np.abs(out - expected))
