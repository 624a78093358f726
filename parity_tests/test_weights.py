"""Canonical weights: round trips are bit-exact, and a wrong weight or file is named."""

import numpy as np
import pytest
from conftest import need

from twinmem import registry
from twinmem.weights import load_weights, save_weights

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
