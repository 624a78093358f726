"""``twinmem convert`` round-trips the weight files, and writes what the layer converters make.

torch <-> Keras files for every layer kind, ``--to canonical`` / ``--from canonical`` for the registry's
``rnn`` / ``lstm`` / ``gru`` / ``multi_head_attention``, and the errors that name a missing, extra or
misshaped tensor, a file that is not safetensors, and a canonical file without its model.
"""

import argparse
import dataclasses
import json

import numpy as np
import pytest
from conftest import need
from interop_helpers import L, N, _close, _np

_CLI_CASES = {
    "lstm": (
        lambda nn: nn.LSTM(8, 16, num_layers=2, bidirectional=True),
        "--layer lstm --input-size 8 --hidden-size 16 --num-layers 2 --bidirectional",
    ),
    "gru": (lambda nn: nn.GRU(5, 4, bias=False), "--layer gru --input-size 5 --hidden-size 4 --no-bias"),
    "rnn": (
        lambda nn: nn.RNN(5, 4, num_layers=2, nonlinearity="relu"),
        "--layer rnn --input-size 5 --hidden-size 4 --num-layers 2 --nonlinearity relu",
    ),
    "mha": (
        lambda nn: nn.MultiheadAttention(8, 2, kdim=3, vdim=7),
        "--layer mha --embed-dim 8 --num-heads 2 --kdim 3 --vdim 7",
    ),
    "linear": (lambda nn: nn.Linear(5, 4), "--layer linear --in-features 5 --out-features 4"),
    "embedding": (lambda nn: nn.Embedding(11, 4), "--layer embedding --num-embeddings 11 --embedding-dim 4"),
}


def _save_state_dict(module, path) -> dict:
    from safetensors.numpy import save_file

    state = {n: p.detach().numpy() for n, p in module.state_dict().items()}
    save_file(state, str(path))
    return state


@pytest.mark.parametrize("case", list(_CLI_CASES))
def test_convert_command_round_trips_and_matches_the_layer_converter(case, tmp_path):
    need("tf")
    need("torch")
    import torch
    from safetensors.numpy import load_file

    from twinmem import convert, interop

    torch.manual_seed(0)
    make, options = _CLI_CASES[case]
    module = make(torch.nn)
    state = _save_state_dict(module, tmp_path / "torch.safetensors")
    argv = options.split()
    assert (
        convert.main(
            [
                "--from",
                "torch",
                "--to",
                "keras",
                *argv,
                str(tmp_path / "torch.safetensors"),
                str(tmp_path / "keras.safetensors"),
            ]
        )
        == 0
    )
    keras_file = load_file(str(tmp_path / "keras.safetensors"))
    layer = interop.torch_to_keras(module, name=case)  # the names are the Keras variable paths
    assert sorted(keras_file) == sorted(v.path for v in layer.weights)
    for v in layer.weights:
        np.testing.assert_array_equal(keras_file[v.path], np.asarray(v.numpy()), err_msg=v.path)
    assert (
        convert.main(
            ["--from", "keras", *argv, str(tmp_path / "keras.safetensors"), str(tmp_path / "back.safetensors")]
        )
        == 0
    )
    back = load_file(str(tmp_path / "back.safetensors"))
    assert sorted(back) == sorted(state)
    for n, t in state.items():
        if n.startswith("bias_hh") and case in ("lstm", "rnn"):  # Keras holds one bias: b_ih + b_hh, b_hh = 0
            ih = n.replace("bias_hh", "bias_ih")
            _close(back[ih] + back[n], state[ih] + t)
            assert not back[n].any()
        elif not n.startswith("bias_ih") or case not in ("lstm", "rnn"):
            np.testing.assert_array_equal(back[n], t, err_msg=n)


def _namespace(options: str, source: str = "torch") -> argparse.Namespace:
    from twinmem import convert

    parser = argparse.ArgumentParser()
    convert.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["convert", "--from", source, *options.split(), "IN", "OUT"])


def test_convert_names_missing_extra_and_misshaped_tensors():
    need("tf")
    need("torch")
    import torch

    from twinmem import convert

    state = {n: p.detach().numpy() for n, p in torch.nn.LSTM(8, 16).state_dict().items()}
    args = _namespace("--layer lstm --input-size 8 --hidden-size 16")
    with pytest.raises(ValueError, match=r"missing 'bias_hh_l0' \(expected shape \(64,\)\)"):
        convert.convert_tensors(convert.resolve(args, {}), {n: t for n, t in state.items() if n != "bias_hh_l0"})
    with pytest.raises(ValueError, match="unexpected 'extra'"):
        convert.convert_tensors(convert.resolve(args, {}), {**state, "extra": state["bias_hh_l0"]})
    with pytest.raises(ValueError, match=r"'weight_ih_l0' expected shape \(64, 8\), received \(64, 5\)"):
        convert.convert_tensors(convert.resolve(args, {}), {**state, "weight_ih_l0": np.zeros((64, 5), np.float32)})
    keras_args = _namespace("--layer lstm --input-size 8 --hidden-size 16", source="keras")
    with pytest.raises(ValueError, match="missing 'lstm/lstm_cell/kernel'"):
        convert.convert_tensors(convert.resolve(keras_args, {}), state)
    with pytest.raises(ValueError, match="--layer lstm needs --hidden-size"):
        convert.convert_tensors(convert.resolve(_namespace("--layer lstm --input-size 8"), {}), state)


def test_convert_reads_only_safetensors(tmp_path):
    need("tf")
    need("torch")
    from twinmem import convert

    bogus = tmp_path / "weights.pt"
    bogus.write_bytes(b"\x80\x04not a safetensors file")  # a pickle's first bytes
    argv = [
        "--from",
        "torch",
        "--layer",
        "linear",
        "--in-features",
        "5",
        "--out-features",
        "4",
        str(bogus),
        str(tmp_path / "o"),
    ]
    assert convert.main(argv) == 2
    assert not (tmp_path / "o").exists()


_CANONICAL_CLI_CASES = {
    "lstm": (
        lambda nn: nn.LSTM(8, 16, num_layers=2, bidirectional=True),
        "--layer lstm --input-size 8 --hidden-size 16 --num-layers 2 --bidirectional",
    ),
    "gru": (lambda nn: nn.GRU(5, 4, bias=False), "--layer gru --input-size 5 --hidden-size 4 --no-bias"),
    "mha": (lambda nn: nn.MultiheadAttention(8, 2), "--layer mha --embed-dim 8 --num-heads 2 --causal"),
}


@pytest.mark.parametrize("case", list(_CANONICAL_CLI_CASES))
def test_convert_command_to_and_from_canonical(case, tmp_path):
    need("tf")
    need("torch")
    import torch

    from twinmem import cli, interop, registry
    from twinmem.weights import load_weights

    torch.manual_seed(0)
    make, options = _CANONICAL_CLI_CASES[case]
    module = make(torch.nn)
    state = _save_state_dict(module, tmp_path / "torch.safetensors")
    files = {n: str(tmp_path / f"{n}.safetensors") for n in ("torch", "canonical", "keras", "again", "back")}
    argv = options.split()
    assert cli.main(["convert", "--from", "torch", "--to", "canonical", *argv, files["torch"], files["canonical"]]) == 0
    weights, metadata = load_weights(files["canonical"])
    model, config, expected = interop.torch_to_canonical(module)
    if "--causal" in argv:
        config = dataclasses.replace(config, causal=True)
    entry = registry.get(model)
    assert metadata["twinmem.model"] == model
    assert entry.config(**json.loads(metadata["twinmem.config"])) == config
    for n, w in expected.items():
        np.testing.assert_array_equal(weights[n], w, err_msg=n)
    if model != "multi_head_attention":  # the file loads into the TF twin and computes the module
        twin = entry.build("tf", config)
        twin.load_canonical(files["canonical"])
        x = np.random.default_rng(0).standard_normal((N, L, config.input_size)).astype(np.float32)
        out, _ = module(torch.as_tensor(x).transpose(0, 1))
        _close(twin(x=x)[0], _np(out.transpose(0, 1)))
    # canonical -> Keras (the paths --from torch --to keras writes) -> canonical: bit-exact
    assert cli.main(["convert", "--from", "canonical", "--to", "keras", files["canonical"], files["keras"]]) == 0
    with_bias = [a for a in argv if a != "--no-bias"]  # from canonical the layer has (zero) biases
    assert (
        cli.main(["convert", "--from", "keras", "--to", "canonical", *with_bias, files["keras"], files["again"]]) == 0
    )
    again, again_metadata = load_weights(files["again"])
    assert again_metadata == metadata
    for n, w in weights.items():
        np.testing.assert_array_equal(again[n], w, err_msg=n)
    # canonical -> torch: the state_dict back (an LSTM's bias pair summed into bias_ih, none here for the GRU)
    assert cli.main(["convert", "--from", "canonical", "--to", "torch", files["canonical"], files["back"]]) == 0
    back, _ = load_weights(files["back"])
    if case == "gru":  # no biases in torch, zero biases in the canonical layout: torch gets them back
        assert not any(back[n].any() for n in back if n.startswith("bias"))
        back = {n: t for n, t in back.items() if not n.startswith("bias")}
    assert sorted(back) == sorted(state)
    for n, t in state.items():
        if case == "lstm" and n.startswith("bias_hh"):
            ih = n.replace("bias_hh", "bias_ih")
            np.testing.assert_array_equal(back[ih], weights[f"cells.{_cell_of(n)}.b"])
            _close(back[ih], state[ih] + t)
            assert not back[n].any()
        elif not (case == "lstm" and n.startswith("bias_ih")):
            np.testing.assert_array_equal(back[n], t, err_msg=n)


def _cell_of(torch_name: str, num_directions: int = 2) -> int:
    """bias_hh_l1_reverse -> canonical cell 3 (k = layer * num_directions + direction)."""
    layer = int(torch_name.split("_l")[1].split("_")[0])
    return layer * num_directions + torch_name.endswith("_reverse")


def test_convert_canonical_needs_a_model_and_checks_it(tmp_path):
    need("tf")
    need("torch")
    from safetensors.numpy import save_file

    from twinmem import cli, registry
    from twinmem.weights import save_weights

    entry = registry.get("gru")
    config = entry.make_config(input_size=5, hidden_size=4)
    weights = {n: w.astype(np.float32) for n, w in entry.random_weights(config).items()}
    bare, tagged, out = (str(tmp_path / n) for n in ("bare", "tagged", "out"))
    save_file(weights, bare)
    save_weights(tagged, weights, "gru", config)
    convert = ["convert", "--from", "canonical", "--to", "torch"]
    assert cli.main([*convert, bare, out]) == 2  # no metadata and no --model
    assert cli.main([*convert, "--model", "gru", "--input-size", "5", "--hidden-size", "4", bare, out]) == 0
    assert cli.main([*convert, "--model", "lstm", tagged, out]) == 2  # the file says gru
    assert cli.main([*convert, "--layer", "lstm", tagged, out]) == 2
    assert cli.main(["convert", "--from", "canonical", tagged, out]) == 2  # --to is required
    assert cli.main([*convert, tagged, out]) == 0
