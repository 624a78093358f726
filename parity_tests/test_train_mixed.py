"""Mixed-precision training (`twinmem train --dtype mixed_*`): float32 masters, 16-bit compute, and one
loss-scale schedule that skips the same steps in both twins."""

import argparse
import json

import numpy as np
import pytest
from conftest import need

import twinmem.entry
from twinmem import registry
from twinmem import train as train_module
from twinmem.entry import ModelEntry
from twinmem.parity import TOLERANCES, UNIT_ROUNDOFF
from twinmem.train import (
    MIXED,
    TASKS,
    Budget,
    LossScale,
    add_parser,
    batch_seed,
    initial_weights,
    mixed_drift_bound,
    train_twin,
)
from twinmem.weights import cast_to, load_weights

FRAMEWORKS = ("tf", "torch")


@pytest.fixture
def one_torch_thread():
    # As in test_train.py: torch's second OpenMP thread waits on a shared 2-core machine.
    need("tf")
    need("torch")
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# Short runs: tiny_gpt made small (as in test_train.py), memn2n on bAbI task 1 at test_train.py's rate.
SHORT = {
    "tiny_gpt": ("recall", {"d_model": 16, "head_dim": 4}, Budget(steps=8, batch_size=32, learning_rate=3e-3)),
    "memn2n": ("babi1", {}, Budget(steps=8, batch_size=32, learning_rate=0.01)),
}


def _small(model: str):
    name, overrides, budget = SHORT[model]
    task, entry = TASKS[name], registry.get(model)
    config = entry.make_config(**{**task.configs[model], **overrides})
    return entry, config, initial_weights(entry.weight_shapes(config), seed=0), task, budget


def _float32_step(entry, config, weights, task, batch) -> tuple[float, float, float]:
    """The float32 torch twin on ``batch``: loss, largest |logit| the loss scores, gradient norm."""
    import torch

    import torch_impl.train as torch_train

    model = entry.build("torch", config, "float32", weights)
    x = torch_train.to_tensors(batch)
    z = model(*(x[n] for n in task.inputs))[0]
    loss = torch_train.LOSSES[task.loss](z, x)
    loss.backward()
    scored = torch_train.answer_logits(z, x["answer_position"]) if z.ndim == 3 else z  # (B, V)
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in model.parameters()]))
    return float(loss.detach()), float(scored.detach().abs().max()), float(norm)


def _needs_16_bits(entry, dtype: str) -> None:
    if not entry.supports(MIXED[dtype]):
        pytest.skip(f"the {entry.family} family has no {MIXED[dtype]} twins yet (twinmem.entry.LOW_PRECISION_FAMILIES)")


@pytest.mark.parametrize("model", ["tiny_gpt", "memn2n"])
def test_mixed_bfloat16_computes_in_16_bits_on_float32_masters(one_torch_thread, monkeypatch, model):
    entry, config, weights, task, budget = _small(model)
    _needs_16_bits(entry, "mixed_bfloat16")
    built = []
    build = ModelEntry.build

    def spy(self, framework, config, dtype="float32", weights=None):
        built.append((framework, dtype))
        return build(self, framework, config, dtype, weights)

    monkeypatch.setattr(ModelEntry, "build", spy)
    runs = {fw: train_twin(fw, entry, config, weights, task, budget, 0, "mixed_bfloat16") for fw in FRAMEWORKS}
    # Each twin: the float32 masters, built with the weights, and the bfloat16 twin that computes.
    assert built == [("tf", "float32"), ("tf", "bfloat16"), ("torch", "float32"), ("torch", "bfloat16")]

    u = UNIT_ROUNDOFF["bfloat16"]
    loss32, z0, norm32 = _float32_step(entry, config, weights, task, task.batch(32, seed=batch_seed(0, 0)))
    last = task.batch(32, seed=batch_seed(0, budget.steps - 1))
    z_end = _float32_step(entry, config, runs["torch"]["weights"], task, last)[1]
    bound = mixed_drift_bound("mixed_bfloat16", max(z0, z_end))
    for fw, r in runs.items():
        masters = np.concatenate([w.ravel() for w in r["weights"].values()])
        assert masters.dtype == np.float32
        # Saved in float32 and not bfloat16 values: the masters, not the twin that computed.
        assert np.mean(cast_to(masters, "bfloat16").astype(np.float32) != masters) > 0.5
        assert all(not np.array_equal(r["weights"][n], weights[n].astype(np.float32)) for n in weights)
        # Step 1 is the bfloat16 forward on the initial weights: measured 1.2 u (tiny_gpt) and 0.1 u (memn2n)
        # from float32's loss, whose own rounding is ~1e-7.
        assert u / 100 <= abs(r["losses"][0] - loss32) <= bound, (fw, r["losses"][0], loss32)
        # Its gradient, upcast and unscaled, has float32's norm to parity's bound for a 16-bit quantity.
        assert abs(r["grad_norms"][0] - norm32) <= TOLERANCES["bfloat16"] * norm32, (fw, r["grad_norms"][0], norm32)
        assert np.mean(r["losses"][-3:]) < r["losses"][0] - 0.05 * abs(r["losses"][0]), (fw, r["losses"])
        assert "loss_scale" not in r  # bfloat16 has float32's range: no loss scaling
    drift = np.abs(np.subtract(runs["tf"]["losses"], runs["torch"]["losses"]))
    assert drift.max() <= bound, (drift, bound)  # measured: 0.44 u (tiny_gpt, bound 32 u), 0.15 u (memn2n, 43 u)
    # The masters themselves: Adam's steps on gradients that agree to a few u, at most 2 lr apart per
    # step in a component whose gradient is near zero (TRAIN_DRIFT's argument).
    for n in weights:
        gap = np.abs(runs["tf"]["weights"][n] - runs["torch"]["weights"][n]).max()
        assert gap <= 2 * budget.learning_rate * budget.steps, (n, gap)


OVERFLOWING = {"tiny_gpt": 2.0**18, "memn2n": 2.0**18}


@pytest.mark.parametrize("model", ["tiny_gpt", "memn2n"])
def test_float16_loss_scaling_skips_the_same_steps_in_both_twins(one_torch_thread, model):
    entry, config, weights, task, budget = _small(model)
    _needs_16_bits(entry, "mixed_float16")
    # A scale that overflows the float16 gradients of step 1 (2^18 for both; 2^16 does not): skipped
    # steps halve it, and a growth interval of 2 doubles it after two finite steps, to overflow again.
    schedule = LossScale(initial=OVERFLOWING[model], growth_interval=2)
    runs = {fw: train_twin(fw, entry, config, weights, task, budget, 0, "mixed_float16", schedule) for fw in FRAMEWORKS}
    scales = {fw: r["loss_scale"] for fw, r in runs.items()}
    assert scales["tf"] == scales["torch"], scales
    record = scales["torch"]
    skipped, grown = record["skipped_steps"], record["grown_at_steps"]
    assert skipped[0] == 1 and grown and len(skipped) < budget.steps, record
    # The scale's story adds up: a power of 2 moved by the events, nothing else.
    assert record["final"] == schedule.initial * 2.0 ** (len(grown) - len(skipped))
    for fw, r in runs.items():
        # A skipped step's gradient norm is not finite (None in the JSON); the others are.
        assert [s + 1 for s, norm in enumerate(r["grad_norms"]) if norm is None] == skipped, fw
    loss32, z0, _ = _float32_step(entry, config, weights, task, task.batch(32, seed=batch_seed(0, 0)))
    drift = np.abs(np.subtract(runs["tf"]["losses"], runs["torch"]["losses"]))
    assert drift.max() <= mixed_drift_bound("mixed_float16", z0), drift  # measured: 0.32 u (tiny_gpt), 0.14 u (memn2n)


def test_train_command_mixed_float16_skips_every_overflowing_step(tmp_path, monkeypatch, one_torch_thread):
    # The command's own schedule made to overflow on every step: both twins skip both steps, and the
    # saved masters are the initial weights, untouched by Adam.
    monkeypatch.setattr("twinmem.frameworks.pin_threads", lambda n: None)
    monkeypatch.setattr(train_module, "LOSS_SCALE", LossScale(initial=2.0**100))
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["train", "--dtype", "mixed_float16", "--steps", "2", "--out", str(tmp_path)])
    assert args.func(args) == 0
    stem = "tiny_gpt_recall_mixed_float16"  # beside the float32 run's files, not over them
    summary = json.loads((tmp_path / f"{stem}.json").read_text())
    assert summary["dtype"] == "mixed_float16" and summary["drift"]["loss_scale_same"] is True
    entry = registry.get("tiny_gpt")
    config = entry.make_config(**summary["config"])
    initial = initial_weights(entry.weight_shapes(config), seed=0)
    for fw in FRAMEWORKS:
        record = summary[fw]["loss_scale"]
        assert record["skipped_steps"] == [1, 2] and record["final"] == 2.0**98 and record["grown_at_steps"] == []
        assert summary[fw]["grad_norms"] == [None, None]
        saved, _ = load_weights(tmp_path / f"{stem}_{fw}.safetensors")
        for n, w in initial.items():
            assert saved[n].dtype == np.float32 and np.array_equal(saved[n], w.astype(np.float32)), (fw, n)
    assert not (tmp_path / "tiny_gpt_recall.json").exists()


def test_models_without_16_bit_twins_are_refused(tmp_path, monkeypatch):
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    # Every family has 16-bit twins today; the families are read when asked, so a family taken off the
    # list (one whose rules are not written yet) is refused from then on, before anything is made.
    monkeypatch.setattr(twinmem.entry, "LOW_PRECISION_FAMILIES", ("attention",))
    args = parser.parse_args(
        ["train", "--model", "lstm_language_model", "--dtype", "mixed_bfloat16", "--out", str(tmp_path / "o")]
    )
    refusal = r"^--dtype mixed_bfloat16 is not supported for model 'lstm_language_model': its rnn twins have no"
    with pytest.raises(ValueError, match=refusal):
        args.func(args)
    assert not (tmp_path / "o").exists()  # refused before anything is made
    entry, config, weights, task, _ = _small("tiny_gpt")
    lstm = registry.get("lstm_language_model")
    with pytest.raises(ValueError, match=r"--dtype mixed_float16 .* 'lstm_language_model'.* use --dtype float32"):
        train_twin("torch", lstm, lstm.make_config(), {}, TASKS["recall"], Budget(steps=1), 0, "mixed_float16")
    with pytest.raises(ValueError, match=r"model 'tiny_gpt': its transformer twins have no float16"):
        train_twin("torch", entry, config, weights, task, Budget(steps=1), 0, "mixed_float16")
    with pytest.raises(SystemExit):  # argparse: not a training dtype
        parser.parse_args(["train", "--dtype", "bfloat16"])
    with pytest.raises(ValueError, match="a power of 2"):
        LossScale(initial=3.0)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_masters_are_rounded_into_the_16_bit_twin_once_to_nearest_even(dtype):
    # copy_weights is each framework's cast from float32; it must give twinmem.weights.cast_to's bits,
    # ties (half-way between two 16-bit numbers) and float16's subnormals included.
    need("tf")
    need("torch")
    import tf_impl.train as tf_train
    import torch_impl.train as torch_train

    entry, config, weights, _, _ = _small("tiny_gpt")
    tie = {"bfloat16": (0xFFFF0000, 0x8000), "float16": (0xFFFFE000, 0x1000)}[dtype]
    masters = {}
    for i, (n, w) in enumerate(weights.items()):
        w = w.astype(np.float32)
        if i % 3 == 1:  # exact ties: the bits below the 16-bit mantissa are 1000...0
            w = ((w.view(np.uint32) & tie[0]) | tie[1]).view(np.float32)
        elif i % 3 == 2:  # float16's subnormal range (below 2^-14)
            w = (w * 1e-5).astype(np.float32)
        masters[n] = w
    for fw, train in (("tf", tf_train), ("torch", torch_train)):
        master = entry.build(fw, config, "float32", masters)
        model = entry.build(fw, config, dtype)
        train.copy_weights(master, model)
        for n, w in model.export_canonical().items():
            expected = cast_to(masters[n], dtype)
            assert np.array_equal(np.asarray(w).view(np.uint16), expected.view(np.uint16)), (fw, n)
