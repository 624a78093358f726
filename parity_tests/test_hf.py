"""Hugging Face GPT-2 in and out: checkpoints transformers writes itself (no download), both twins against its
forward and its greedy generation, the round trip bit for bit, and every refusal named."""

import json
import os
import re
import shutil
import warnings

import numpy as np
import pytest
from conftest import need

from twinmem import cli, hf, registry
from twinmem.configs.transformer import padded_positions
from twinmem.convert import main as convert
from twinmem.parity import TOLERANCES, compare
from twinmem.weights import load_weights

transformers = pytest.importorskip("transformers", reason="transformers is the hf extra (make parity installs it)")
torch = pytest.importorskip("torch")


def _checkpoint(path, dtype="float32", seed=0, **overrides):
    """A small GPT2LMHeadModel saved by transformers, LayerNorm gains and all biases moved off their initial
    values (1 and 0), so that a gamma/beta or weight/bias mix-up shows in the logits."""
    options = dict(vocab_size=37, n_positions=24, n_embd=16, n_layer=2, n_head=4, bos_token_id=0, eos_token_id=None)
    config = transformers.GPT2Config(**{**options, **overrides})
    torch.manual_seed(seed)
    model = transformers.GPT2LMHeadModel(config).to(getattr(torch, dtype)).eval()
    with torch.no_grad():
        for p in model.parameters():
            if p.ndim == 1:
                p.add_(0.2 * torch.randn_like(p))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.save_pretrained(path, max_shard_size=overrides.pop("max_shard_size", "5GB"))
    return model


def _read(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the dropout warning, tested on its own
        return hf.read_hf(path)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("tie", [True, False], ids=["tied", "untied"])
def test_round_trip_is_bit_exact_and_both_twins_match_transformers(tmp_path, dtype, tie):
    model = _checkpoint(tmp_path / "hf", dtype, tie_word_embeddings=tie)
    assert convert(["--from", "hf", "--to", "canonical", str(tmp_path / "hf"), str(tmp_path / "g.safetensors")]) == 0
    assert convert(["--from", "canonical", "--to", "hf", str(tmp_path / "g.safetensors"), str(tmp_path / "back")]) == 0
    back = transformers.GPT2LMHeadModel.from_pretrained(tmp_path / "back").eval()
    original = transformers.GPT2LMHeadModel.from_pretrained(tmp_path / "hf").eval()
    assert back.dtype == original.dtype == getattr(torch, dtype)
    for (n, a), (m, b) in zip(original.state_dict().items(), back.state_dict().items(), strict=True):
        assert n == m and torch.equal(a, b), n
    tokens = torch.as_tensor(np.random.default_rng(1).integers(0, 37, (3, 11)))
    with torch.no_grad():
        expected = model(tokens).logits
        assert torch.equal(back(tokens).logits, original(tokens).logits), "HF -> canonical -> HF must be bit-identical"
    weights, metadata = load_weights(tmp_path / "g.safetensors")
    entry = registry.get("tiny_gpt")
    config = entry.make_config(**json.loads(metadata["twinmem.config"]))
    assert config.tie_embeddings is tie and config.max_len == 24
    for fw in ("tf", "torch"):
        need(fw)
        twin = entry.build(fw, config, dtype, weights)
        (logits,) = twin(tokens if fw == "torch" else tokens.numpy())
        logits = logits.detach().numpy() if fw == "torch" else np.asarray(logits)
        _, rel, ok, where = compare(logits, expected.numpy(), TOLERANCES[dtype], (fw, "transformers"))
        assert ok, f"{fw}: relative error {rel:.2e} > {TOLERANCES[dtype]} ({where})"


def test_greedy_generation_equals_transformers_in_both_twins_cached_and_uncached(tmp_path):
    model = _checkpoint(tmp_path / "hf")
    config, weights = _read(tmp_path / "hf")
    prompt = np.random.default_rng(2).integers(0, 37, (2, 5))
    new = config.max_len - prompt.shape[1]  # as many as the window allows
    with torch.no_grad():
        expected = model.generate(
            torch.as_tensor(prompt),
            attention_mask=torch.ones(prompt.shape, dtype=torch.long),
            max_new_tokens=new,
            min_new_tokens=new,
            do_sample=False,
            pad_token_id=0,
        ).numpy()
    assert expected.shape == (2, config.max_len)
    for fw in ("tf", "torch"):
        need(fw)
        twin = registry.get("tiny_gpt").build(fw, config, "float32", weights)
        for use_cache in (True, False):
            tokens = np.asarray(twin.generate(prompt, new, use_cache=use_cache))
            np.testing.assert_array_equal(tokens, expected, err_msg=f"{fw} use_cache={use_cache}")


def _numpy(fw, x):
    return x.detach().numpy() if fw == "torch" else np.asarray(x)


def _left_padded(lengths, steps, seed=4, pad=0):
    """Prompts of the given lengths, left-padded with ``pad`` to ``steps``, and transformers' attention_mask."""
    rng = np.random.default_rng(seed)
    tokens = np.full((len(lengths), steps), pad, np.int64)
    attention_mask = np.zeros((len(lengths), steps), np.int64)
    for row, n in enumerate(lengths):
        tokens[row, steps - n :] = rng.integers(1, 37, n)
        attention_mask[row, steps - n :] = 1
    return tokens, attention_mask


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_layer_norm_epsilon_is_carried_both_ways(tmp_path, dtype):
    model = _checkpoint(tmp_path / "hf", dtype, layer_norm_epsilon=0.05)  # far from 1e-5: a dropped value shows
    assert convert(["--from", "hf", "--to", "canonical", str(tmp_path / "hf"), str(tmp_path / "g.safetensors")]) == 0
    assert convert(["--from", "canonical", "--to", "hf", str(tmp_path / "g.safetensors"), str(tmp_path / "back")]) == 0
    assert json.loads((tmp_path / "back" / "config.json").read_text())["layer_norm_epsilon"] == 0.05
    weights, metadata = load_weights(tmp_path / "g.safetensors")
    entry = registry.get("tiny_gpt")
    config = entry.make_config(**json.loads(metadata["twinmem.config"]))
    assert config.layer_norm_eps == 0.05
    tokens = np.random.default_rng(1).integers(0, 37, (2, 9))
    with torch.no_grad():
        expected = model(torch.as_tensor(tokens)).logits.numpy()
    for fw in ("tf", "torch"):
        need(fw)
        for eps, should_match in ((0.05, True), (1e-5, False)):
            twin = entry.build(fw, entry.make_config(**{**config.__dict__, "layer_norm_eps": eps}), dtype, weights)
            (logits,) = twin(torch.as_tensor(tokens) if fw == "torch" else tokens)
            _, rel, ok, where = compare(_numpy(fw, logits), expected, TOLERANCES[dtype], (fw, "transformers"))
            assert ok is should_match, f"{fw} eps={eps}: relative error {rel:.2e} ({where})"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_left_padded_forward_with_position_ids_equals_transformers(tmp_path, dtype):
    """transformers' convention: attention_mask 1 = real token, pads on the left, each row's position_ids
    counting its real tokens; the twins take the mask as it is (True = real) and the same positions."""
    model = _checkpoint(tmp_path / "hf", dtype)
    config, weights = _read(tmp_path / "hf")
    tokens, attention_mask = _left_padded([11, 7, 2], 11)
    am = torch.as_tensor(attention_mask)
    position_ids = model._prepare_position_ids_for_generation(torch.as_tensor(tokens), {"attention_mask": am})
    mask = attention_mask.astype(bool)
    assert np.array_equal(padded_positions(mask), position_ids.numpy()), "the twins derive transformers' positions"
    with torch.no_grad():
        expected = model(torch.as_tensor(tokens), attention_mask=am, position_ids=position_ids).logits.numpy()
    for fw in ("tf", "torch"):
        need(fw)
        twin = registry.get("tiny_gpt").build(fw, config, dtype, weights)
        args = [torch.as_tensor(a) if fw == "torch" else a for a in (tokens, mask, position_ids.numpy())]
        (logits,), mids = twin(args[0], mask=args[1], positions=args[2], return_intermediates=True)
        logits = _numpy(fw, logits)
        assert np.isfinite(logits).all(), f"{fw}: padded query rows must give zeros, never NaN"
        weights_0 = _numpy(fw, mids["blocks.0.attention.attention_weights"])  # (B, H, T, T)
        assert not weights_0[2, :, :9].any(), f"{fw}: a pad query (all its keys pads) has all-zero weights"
        _, rel, ok, where = compare(logits[mask], expected[mask], TOLERANCES[dtype], (fw, "transformers"))
        assert ok, f"{fw}: relative error {rel:.2e} > {TOLERANCES[dtype]} ({where})"


def test_left_padded_greedy_generation_equals_transformers_in_both_twins(tmp_path):
    model = _checkpoint(tmp_path / "hf")
    config, weights = _read(tmp_path / "hf")
    tokens, attention_mask = _left_padded([7, 4, 2], 7)
    new = config.max_len - tokens.shape[1]  # as many as the window allows
    with torch.no_grad():
        expected = model.generate(
            torch.as_tensor(tokens),
            attention_mask=torch.as_tensor(attention_mask),
            do_sample=False,
            max_new_tokens=new,
            min_new_tokens=new,
            pad_token_id=0,
        ).numpy()
    assert expected.shape == (3, config.max_len)
    for fw in ("tf", "torch"):
        need(fw)
        twin = registry.get("tiny_gpt").build(fw, config, "float32", weights)
        # TF's tf.function decoding is quick to trace; torch.compile's has its own slow test.
        for use_cache, graph in ((True, False), (False, False), *([(True, True)] if fw == "tf" else [])):
            out = twin.generate(tokens, new, use_cache=use_cache, graph=graph, mask=attention_mask.astype(bool))
            np.testing.assert_array_equal(np.asarray(out), expected, err_msg=f"{fw} cached={use_cache} graph={graph}")


@pytest.mark.skipif(
    not os.environ.get("TWINMEM_SLOW"), reason="torch.compile takes ~1 min on 2 CPU cores; TWINMEM_SLOW=1"
)
def test_left_padded_torch_compiled_generation_equals_transformers(tmp_path):
    need("torch")
    model = _checkpoint(tmp_path / "hf")
    config, weights = _read(tmp_path / "hf")
    tokens, attention_mask = _left_padded([7, 4, 2], 7)
    with torch.no_grad():
        expected = model.generate(
            torch.as_tensor(tokens),
            attention_mask=torch.as_tensor(attention_mask),
            do_sample=False,
            max_new_tokens=6,
            min_new_tokens=6,
            pad_token_id=0,
        ).numpy()
    twin = registry.get("tiny_gpt").build("torch", config, "float32", weights)
    # generate(graph=True) decodes under the stance "fail_on_recompile" after the first step.
    out = twin.generate(torch.as_tensor(tokens), 6, graph=True, mask=torch.as_tensor(attention_mask.astype(bool)))
    np.testing.assert_array_equal(out.numpy(), expected)


def test_generate_command_continues_a_converted_gpt2_as_transformers_does(tmp_path, capsys):
    need("tf")
    need("torch")
    model = _checkpoint(tmp_path / "hf")
    weights = str(tmp_path / "g.safetensors")
    assert convert(["--from", "hf", "--to", "canonical", str(tmp_path / "hf"), weights]) == 0
    prompt = [5, 11, 30]
    new = 24 - len(prompt)  # the whole window: nothing caps --new-tokens below max_len - prompt length
    with torch.no_grad():
        expected = model.generate(
            torch.as_tensor([prompt]),
            attention_mask=torch.ones((1, 3), dtype=torch.long),
            do_sample=False,
            max_new_tokens=new,
            min_new_tokens=new,
            pad_token_id=0,
        ).numpy()[:, len(prompt) :]
    capsys.readouterr()
    argv = ["generate", "--weights", weights, "--prompt-ids", "5, 11,30", "--new-tokens", str(new)]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert f"prompt: {[prompt]}" in out
    decoded = {line.split("[[")[0].strip(): line for line in out.splitlines() if "[[" in line and "prompt" not in line}
    assert sorted(decoded) == ["tf cached", "tf uncached", "torch cached", "torch uncached"]
    for label, line in decoded.items():
        assert f"{expected.tolist()}  (" in line, f"{label}: {line} (transformers: {expected.tolist()})"
    assert "all 4 decodings agree token for token" in out
    for ids, message in (
        ("5,x,3", r"--prompt-ids as comma-separated integer token ids"),
        ("5,37", r"--prompt-ids in \[0, vocab_size = 37\). Received: id 37"),
        (",".join(["1"] * 25), r"--prompt-ids of at most max_len = 24 ids"),
    ):
        assert cli.main(["generate", "--weights", weights, "--prompt-ids", ids]) == 2
        assert re.search(message, capsys.readouterr().err), ids
    assert cli.main(["generate", "--weights", weights, "--prompt-ids", "5", "--batch", "2"]) == 2
    assert "--batch 2 contradicts --prompt-ids" in capsys.readouterr().err


def test_sharded_checkpoint_reads_as_the_single_file(tmp_path):
    _checkpoint(tmp_path / "one")
    _checkpoint(tmp_path / "sharded", max_shard_size="20KB")
    assert (tmp_path / "sharded" / "model.safetensors.index.json").is_file()
    (_, a), (_, b) = _read(tmp_path / "one"), _read(tmp_path / "sharded")
    assert list(a) == list(b) and all(np.array_equal(a[n], b[n]) for n in a)


def test_dropout_is_named_in_a_warning(tmp_path):
    _checkpoint(tmp_path / "hf", resid_pdrop=0.1, embd_pdrop=0.0, attn_pdrop=0.0)
    with pytest.warns(UserWarning, match=r"dropout \{'resid_pdrop': 0.1\} is not carried"):
        hf.read_hf(tmp_path / "hf")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("activation_function", "relu"),
        ("scale_attn_by_inverse_layer_idx", True),
        ("reorder_and_upcast_attn", True),
        ("scale_attn_weights", False),
        ("n_inner", 40),
        ("layer_norm_epsilon", 0.0),
        ("layer_norm_epsilon", -1e-05),
        ("add_cross_attention", True),
    ],
)
def test_what_the_twins_cannot_compute_is_refused_by_name(tmp_path, key, value):
    _checkpoint(tmp_path / "hf")
    path = tmp_path / "hf" / "config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), key: value}))
    with pytest.raises(ValueError, match=f"{key} = {value!r} cannot be converted"):
        _read(tmp_path / "hf")


def _broken(tmp_path, how):
    _checkpoint(tmp_path / "hf", max_shard_size="20KB" if how == "shard" else "5GB")
    d = tmp_path / "hf"
    if how == "no config":
        (d / "config.json").unlink()
    elif how == "bert":
        (d / "config.json").write_text(
            json.dumps({**json.loads((d / "config.json").read_text()), "model_type": "bert"})
        )
    elif how == "shard":
        index = json.loads((d / "model.safetensors.index.json").read_text())
        (d / sorted(set(index["weight_map"].values()))[-1]).unlink()
    elif how == "shape":
        (d / "config.json").write_text(json.dumps({**json.loads((d / "config.json").read_text()), "n_positions": 30}))
    elif how == "pickle":
        (d / "model.safetensors").unlink()
        (d / "pytorch_model.bin").write_bytes(b"\x80\x04not to be unpickled")
    return d


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("no config", "has no config.json"),
        ("bert", r"model_type 'gpt2'\)\. Received: 'bert'"),
        ("shard", "shards listed in model.safetensors.index.json are missing"),
        ("shape", r"'wpe.weight' expected shape \(30, 16\), received \(24, 16\)"),
        ("pickle", "holds only pytorch_model.bin, a pickle"),
    ],
)
def test_bad_directories_are_named_and_nothing_is_written(tmp_path, how, message):
    d = _broken(tmp_path, how)
    out = tmp_path / "g.safetensors"
    with pytest.raises(ValueError, match=message):
        _read(d)
    assert convert(["--from", "hf", "--to", "canonical", str(d), str(out)]) == 2
    assert not out.exists()


def test_an_existing_output_directory_is_kept_unless_forced(tmp_path):
    _checkpoint(tmp_path / "hf")
    assert convert(["--from", "hf", "--to", "canonical", str(tmp_path / "hf"), str(tmp_path / "g.safetensors")]) == 0
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert convert(["--from", "canonical", "--to", "hf", str(tmp_path / "g.safetensors"), str(out)]) == 2
    assert os.listdir(out) == ["notes.txt"]
    assert convert(["--from", "canonical", "--to", "hf", "--force", str(tmp_path / "g.safetensors"), str(out)]) == 0
    assert sorted(os.listdir(out)) == ["config.json", "model.safetensors"]
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")], "no staging directory left behind"


def test_a_failed_write_leaves_no_directory(tmp_path, monkeypatch):
    _checkpoint(tmp_path / "hf")
    config, weights = _read(tmp_path / "hf")

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(hf, "save_file", fail)
    with pytest.raises(OSError, match="disk full"):
        hf.write_hf(tmp_path / "out", config, weights)
    assert sorted(os.listdir(tmp_path)) == ["hf"]


@pytest.mark.skipif(not os.environ.get("TWINMEM_GPT2_SMALL", "1") == "1", reason="TWINMEM_GPT2_SMALL=0")
def test_gpt2_small_loads_into_both_twins_and_matches_transformers(tmp_path):
    """GPT-2 small's shapes (124 M parameters), float32: a checkpoint transformers wrote, both twins' logits."""
    options = dict(vocab_size=50257, n_positions=1024, n_embd=768, n_layer=12, n_head=12)
    config = transformers.GPT2Config(**options)
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(config).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.save_pretrained(tmp_path / "hf")
    tokens = np.random.default_rng(3).integers(0, 50257, (2, 16))
    with torch.no_grad():
        expected = model(torch.as_tensor(tokens)).logits.numpy()
    del model
    ours, weights = _read(tmp_path / "hf")
    shutil.rmtree(tmp_path / "hf")
    assert sum(w.size for w in weights.values()) == 124_439_808
    for fw in ("tf", "torch"):
        need(fw)
        twin = registry.get("tiny_gpt").build(fw, ours, "float32", weights)
        (logits,) = twin(torch.as_tensor(tokens) if fw == "torch" else tokens)
        logits = logits.detach().numpy() if fw == "torch" else np.asarray(logits)
        _, rel, ok, where = compare(logits, expected, TOLERANCES["float32"], (fw, "transformers"))
        assert ok, f"{fw}: relative error {rel:.2e} ({where})"
        del twin
