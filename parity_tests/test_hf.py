"""Hugging Face GPT-2 in and out: checkpoints transformers writes itself (no download), both twins against its
forward and its greedy generation, the round trip bit for bit, and every refusal named."""

import json
import os
import shutil
import warnings

import numpy as np
import pytest
from conftest import need

from twinmem import hf, registry
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
        ("layer_norm_epsilon", 1e-6),
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
