"""Canonical weights: round trips are bit-exact, and a wrong weight or file is named."""

import dataclasses
import json

import numpy as np
import pytest
from conftest import need
from safetensors.numpy import save_file

from twinmem import registry
from twinmem.weights import config_from_metadata, load_weights, save_weights

FRAMEWORKS = ["tf", "torch"]
CASES = [(e.name, v) for e in registry.entries() for v in e.variants]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize(("name", "variant"), CASES, ids=[f"{n}[{v}]" for n, v in CASES])
def test_round_trip_is_bit_exact(name, variant, framework, dtype, tmp_path):
    need(framework)
    entry = registry.get(name)
    config = entry.make_config(variant)
    weights = {n: w.astype(dtype) for n, w in entry.random_weights(config, seed=3).items()}
    path = tmp_path / "w.safetensors"
    save_weights(path, weights, name, config)
    model = entry.build(framework, config, dtype)
    model.load_canonical(path)
    exported = model.export_canonical()
    assert list(exported) == list(entry.weight_shapes(config)), "export order must follow the canonical layout"
    for n, w in weights.items():
        assert exported[n].dtype == w.dtype and exported[n].tobytes() == w.tobytes(), n
    loaded, metadata = load_weights(path)
    assert metadata["twinmem.model"] == name
    assert {n: w.tobytes() for n, w in loaded.items()} == {n: w.tobytes() for n, w in weights.items()}
    assert list(loaded) == list(weights), "the file keeps the order it was saved in"


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_wrong_weights_are_named(framework):
    need(framework)
    entry = registry.get("additive_attention")
    config = entry.make_config()
    model = entry.build(framework, config)
    good = entry.random_weights(config)
    missing = {n: w for n, w in good.items() if n != "W2"}
    with pytest.raises(ValueError, match=r"missing 'W2' \(expected shape \(6, 10\)\)"):
        model.load_canonical(missing)
    with pytest.raises(ValueError, match="unexpected 'W3'"):
        model.load_canonical({**good, "W3": np.zeros(3)})
    with pytest.raises(ValueError, match=r"'V' expected shape \(10, 1\), received \(10,\)"):
        model.load_canonical({**good, "V": np.zeros(10)})
    with pytest.raises(TypeError, match="weight 'b1' of a floating dtype"):
        model.load_canonical({**good, "b1": np.zeros(10, dtype=np.int64)})


def test_non_safetensors_file_is_refused(tmp_path):
    path = tmp_path / "w.pt"
    path.write_bytes(b"\x80\x04\x95\x0b\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x02W1\x94K\x01s.")  # a pickle's bytes
    with pytest.raises(ValueError, match="is not a safetensors file"):
        load_weights(path)
    with pytest.raises(FileNotFoundError, match="not found"):
        load_weights(tmp_path / "absent.safetensors")


def _roles(weights: dict) -> dict[str, str]:
    """Each fresh weight's initializer as its values show it: all zeros, all ones, or drawn."""
    return {n: "zeros" if not w.any() else "ones" if (w == 1).all() else "kernel" for n, w in weights.items()}


@pytest.mark.parametrize("name", registry.names())
def test_fresh_twins_follow_one_initializer_rule(name):
    """Both twins start every weight by the same rule (tf_impl.core.weight, torch_impl.core.weight): the same
    weights are zeros, the same ones, and the drawn ones have the spread of N(0, 1/fan_in)."""
    for framework in FRAMEWORKS:
        need(framework)
    entry = registry.get(name)
    config = entry.make_config()
    fresh = {fw: entry.build(fw, config, "float64").export_canonical() for fw in FRAMEWORKS}
    assert _roles(fresh["tf"]) == _roles(fresh["torch"])
    for fw, weights in fresh.items():
        kernels = [
            w.ravel() * np.sqrt(w.shape[-2] if w.ndim > 1 else w.shape[0])
            for n, w in weights.items()
            if _roles(weights)[n] == "kernel"
        ]
        drawn = np.concatenate(kernels) if kernels else np.zeros(0)
        # Unit variance once scaled by sqrt(fan_in); hundreds of draws put the sample std within 25 %.
        assert drawn.size < 100 or 0.75 < drawn.std() < 1.25, (fw, drawn.size, drawn.std())


def test_luong_concat_scores_start_random_in_both_twins():
    """v_a is a weight, not a bias: a fresh torch twin used to start it at zeros (every key scored 0)."""
    need("torch")
    entry = registry.get("luong_attention")
    weights = entry.build("torch", entry.make_config(score="concat")).export_canonical()
    assert weights["v_a"].any()


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_file_loads_only_into_a_twin_of_its_config(framework, tmp_path):
    """Shapes alone do not tell a relu RNN from a tanh one, nor one model from another whose shapes fit."""
    need(framework)
    rnn = registry.get("rnn")
    relu = rnn.make_config("relu")
    save_weights(tmp_path / "relu.safetensors", rnn.random_weights(relu), "rnn", relu)
    with pytest.raises(ValueError, match=r"saved from a RNN with activation='relu' \(this twin: 'tanh'\)"):
        rnn.build(framework, rnn.make_config()).load_canonical(tmp_path / "relu.safetensors")
    rnn.build(framework, rnn.make_config()).load_canonical(tmp_path / "relu.safetensors", ignore_config=True)
    rnn.build(framework, rnn.make_config("relu_fused")).load_canonical(tmp_path / "relu.safetensors")  # path: how
    lstm = registry.get("lstm")
    two_layers = lstm.make_config(num_layers=2)
    bidirectional = lstm.make_config(bidirectional=True, input_size=12)  # cell 1 reads 12 features either way
    save_weights(tmp_path / "bi.safetensors", lstm.random_weights(bidirectional), "lstm", bidirectional)
    if lstm.weight_shapes(bidirectional) == lstm.weight_shapes(
        two_layers.__class__(**{**two_layers.__dict__, "input_size": 12})
    ):
        with pytest.raises(ValueError, match="bidirectional=True"):
            lstm.build(framework, lstm.make_config(num_layers=2, input_size=12)).load_canonical(
                tmp_path / "bi.safetensors"
            )
    gru = registry.get("gru")
    with pytest.raises(ValueError, match=r"holds weights of 'lstm'"):
        gru.build(framework, gru.make_config()).load_canonical(tmp_path / "bi.safetensors")


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_nonfinite_weights_are_refused_unless_asked_for(framework):
    need(framework)
    entry = registry.get("additive_attention")
    config = entry.make_config()
    weights = entry.random_weights(config)
    weights["W2"][1, 2] = np.nan
    model = entry.build(framework, config)
    with pytest.raises(ValueError, match=r"Weight 'W2' holds 1 NaN or infinite value"):
        model.load_canonical(weights)
    model.load_canonical(weights, allow_nonfinite=True)
    assert np.isnan(model.export_canonical()["W2"][1, 2])


def test_a_non_mapping_is_a_clear_error():
    need("torch")
    entry = registry.get("additive_attention")
    with pytest.raises(TypeError, match="Expected `weights` to be a mapping of name -> array or a safetensors path"):
        entry.build("torch", entry.make_config()).load_canonical(123)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_config_field_added_later_reads_as_its_default(framework, tmp_path):
    """tiny_gpt's layer_norm_eps came after files were saved: a saved config without it was saved when the
    default was the only behaviour, so it loads into a twin with the default and no other."""
    need(framework)
    entry = registry.get("tiny_gpt")
    config = entry.make_config()
    weights = entry.random_weights(config, seed=1)
    save_weights(tmp_path / "new.safetensors", weights, "tiny_gpt", config)
    tensors, metadata = load_weights(tmp_path / "new.safetensors")
    assert metadata["twinmem.config_class"] == "TinyGPTConfig"
    old = {k: v for k, v in dataclasses.asdict(config).items() if k != "layer_norm_eps"}

    def saved_with(options, name):
        # The file as the older twinmem wrote it: the same metadata, its config JSON without the new field.
        save_file(tensors, str(tmp_path / name), metadata={**metadata, "twinmem.config": json.dumps(options)})
        return tmp_path / name

    path = saved_with(old, "old.safetensors")
    assert config_from_metadata(entry.config, load_weights(path)[1], "old") == config
    entry.build(framework, config).load_canonical(path)
    with pytest.raises(ValueError, match=r"with layer_norm_eps=1e-05 \(this twin: 1e-06\)"):
        entry.build(framework, entry.make_config(layer_norm_eps=1e-6)).load_canonical(path)
    with pytest.raises(ValueError, match=r"whose config is the TinyGPTConfig \[.*'dropout'"):
        entry.build(framework, config).load_canonical(saved_with({**old, "dropout": 0.1}, "extra.safetensors"))
