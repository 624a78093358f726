"""Mistakes on the command line and in the library's entry points get a clear error, not a traceback."""

import numpy as np
import pytest
from conftest import need

from twinmem import cli, registry
from twinmem.weights import config_from_metadata, load_weights, save_weights


def test_convert_refuses_to_overwrite_its_input(tmp_path, capsys):
    need("torch")
    entry = registry.get("lstm")
    config = entry.make_config()
    path = tmp_path / "w.safetensors"
    save_weights(path, entry.random_weights(config), "lstm", config)
    before = path.read_bytes()
    assert cli.main(["convert", "--from", "canonical", "--to", "torch", str(path), str(path)]) == 2
    assert "would overwrite the original" in capsys.readouterr().err
    assert path.read_bytes() == before


def test_convert_names_a_missing_output_directory(tmp_path, capsys):
    need("torch")
    entry = registry.get("gru")
    config = entry.make_config()
    path = tmp_path / "w.safetensors"
    save_weights(path, entry.random_weights(config), "gru", config)
    assert cli.main(["convert", "--from", "canonical", "--to", "torch", str(path), str(tmp_path / "no" / "o")]) == 2
    assert "OUTPUT's directory does not exist" in capsys.readouterr().err


def test_generate_takes_only_models_with_generate(capsys):
    with pytest.raises(SystemExit):
        cli.main(["generate", "--model", "lstm"])
    assert "invalid choice: 'lstm'" in capsys.readouterr().err


def test_report_compare_names_a_directory_without_results(tmp_path, capsys):
    assert cli.main(["report", str(tmp_path / "a"), str(tmp_path / "b")]) == 2
    assert "holds no results.json" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"twinmem.config": "{not json"}, "is not JSON"),
        ({"twinmem.config": "[1, 2]"}, "is not a JSON object"),
        ({"twinmem.config": '{"d_model": 8, "heads": 2}'}, r"lacks: \['heads'\]"),
    ],
)
def test_config_metadata_errors_name_the_file(metadata, message):
    config_class = registry.get("multi_head_attention").config
    with pytest.raises(ValueError, match=message) as e:
        config_from_metadata(config_class, metadata, "'w.safetensors'")
    assert str(e.value).startswith("'w.safetensors'")


def test_saved_config_round_trips_numpy_scalars(tmp_path):
    entry = registry.get("multi_head_attention")
    config = entry.make_config(d_model=int(np.int64(16)))
    weights = entry.random_weights(config)
    save_weights(tmp_path / "w.safetensors", weights, entry.name, {**vars(config), "num_heads": np.int64(4)})
    _, metadata = load_weights(tmp_path / "w.safetensors")
    assert config_from_metadata(entry.config, metadata, "w") == config
    with pytest.raises(TypeError, match="Expected `config`"):
        save_weights(tmp_path / "x.safetensors", weights, entry.name, None)


def test_build_and_inputs_refuse_unknown_dtypes_and_variants():
    entry = registry.get("additive_attention")
    with pytest.raises(ValueError, match="Expected `dtype` to be one of"):
        entry.build("torch", entry.make_config(), "int32")
    with pytest.raises(ValueError, match="Unknown variant 'nosuch'"):
        entry.make_inputs(entry.make_config(), variant="nosuch")


def test_parity_table_shows_variant_names(monkeypatch, capsys):
    need("torch")
    monkeypatch.setenv("COLUMNS", "200")
    cli.main(["parity", "--model", "luong_attention", "--dtype", "float64"])
    out = capsys.readouterr().out
    assert "luong_attention[dot]" in out and "luong_attention[concat]" in out


@pytest.mark.parametrize(
    ("name", "overrides", "layout"),
    [("multi_head_attention", {"causal": True}, "torch"), ("lstm", {"path": "fused", "dropout": 0.25}, "torch")]
    + [("multi_head_attention", {"causal": True}, "keras"), ("gru", {"num_layers": 2, "dropout": 0.5}, "keras")],
)
def test_convert_round_trip_keeps_float64_values_and_the_config(tmp_path, name, overrides, layout):
    need("torch")
    if layout == "keras":
        need("tf")
    entry = registry.get(name)
    config = entry.make_config(**overrides)
    weights = {n: w.astype(np.float64) for n, w in entry.random_weights(config).items()}
    save_weights(tmp_path / "c.safetensors", weights, name, config)
    paths = [str(tmp_path / n) for n in ("c.safetensors", "x.safetensors", "back.safetensors")]
    assert cli.main(["convert", "--from", "canonical", "--to", layout, paths[0], paths[1]]) == 0
    # No layer options: the converted file carries them, and the config's causal / path / dropout.
    assert cli.main(["convert", "--from", layout, "--to", "canonical", paths[1], paths[2]]) == 0
    back, metadata = load_weights(paths[2])
    assert config_from_metadata(entry.config, metadata, paths[2]) == config
    assert all(back[n].dtype == np.float64 and np.array_equal(back[n], w) for n, w in weights.items())


def test_convert_refuses_an_option_that_contradicts_the_file(tmp_path, capsys):
    need("torch")
    entry = registry.get("rnn")
    config = entry.make_config(activation="relu")
    save_weights(tmp_path / "c.safetensors", entry.random_weights(config), "rnn", config)
    x = str(tmp_path / "x.safetensors")
    assert cli.main(["convert", "--from", "canonical", "--to", "torch", str(tmp_path / "c.safetensors"), x]) == 0
    code = cli.main(["convert", "--from", "torch", "--to", "canonical", "--nonlinearity", "tanh", x, x + ".back"])
    assert code == 2 and "--nonlinearity tanh contradicts the input file" in capsys.readouterr().err


def test_convert_from_canonical_refuses_a_contradicting_option(tmp_path, capsys):
    need("torch")
    entry = registry.get("gru")
    config = entry.make_config()
    save_weights(tmp_path / "c.safetensors", entry.random_weights(config), "gru", config)
    argv = ["convert", "--from", "canonical", "--to", "torch", "--hidden-size", str(config.hidden_size + 1)]
    assert cli.main([*argv, str(tmp_path / "c.safetensors"), str(tmp_path / "x.safetensors")]) == 2
    assert "--hidden-size" in capsys.readouterr().err and not (tmp_path / "x.safetensors").exists()


def test_canonical_config_survives_torch_to_keras_and_back(tmp_path):
    need("torch")
    need("tf")
    entry = registry.get("multi_head_attention")
    config = entry.make_config(causal=True)
    save_weights(tmp_path / "c.safetensors", entry.random_weights(config), entry.name, config)
    c, k, t, back = (str(tmp_path / f"{n}.safetensors") for n in ("c", "k", "t", "back"))
    assert cli.main(["convert", "--from", "canonical", "--to", "keras", c, k]) == 0
    assert cli.main(["convert", "--from", "keras", "--to", "torch", k, t]) == 0
    assert cli.main(["convert", "--from", "torch", "--to", "canonical", t, back]) == 0
    assert config_from_metadata(entry.config, load_weights(back)[1], back) == config
