"""`twinmem study`: a tiny study end to end in both twins, resuming, refusing another study, bad names."""

import json

import numpy as np
import pytest
from conftest import need

from twinmem.frameworks import unavailable
from twinmem.study import results, store, summary
from twinmem.study import run as study_run
from twinmem.study.__main__ import main
from twinmem.study.cli import write_outputs
from twinmem.study.config import QUICK, RECALL_MECHANISMS, Point, make_config
from twinmem.study.tasks import recall_setup, recall_token_names

FRAMEWORKS = tuple(fw for fw in ("tf", "torch") if unavailable(fw) is None)


def tiny(**overrides):
    """MemN2N on recall, 3 steps of 4 rows per point, no copy and no bAbI: seconds, not minutes."""
    settings = dict(
        frameworks=FRAMEWORKS,
        mechanisms=("memn2n",),
        pairs=(2,),
        persistence_load=2,
        seeds=(0,),
        recall_steps=3,
        recall_batch=4,
        length_mechanisms=(),
        babi_tasks=(),
    )
    return make_config("quick", **{**settings, **overrides})


def test_tiny_study_end_to_end_in_both_twins(tmp_path):
    if not FRAMEWORKS:
        pytest.skip("neither TensorFlow nor torch is installed")
    config = tiny()
    records = study_run.run_study(config, tmp_path)
    write_outputs(tmp_path, records, config, 1.0)
    (record,) = records.values()
    assert set(record["frameworks"]) == set(FRAMEWORKS)
    for res in record["frameworks"].values():
        assert 0.0 <= res["measure"] <= 1.0 and len(res["by_distance"]) == 2 and len(res["losses"]) == 3
        assert res["held_out_rows"] > 0
    if len(FRAMEWORKS) == 2:  # same initial weights, same batches: the curves coincide to rounding
        assert record["loss_drift"] < 1e-4
        assert record["looks"]["max_diff_same_weights"] < 1e-5
    assert json.loads((tmp_path / "points" / "capacity-memn2n-2-s0.json").read_text())["study_id"] == config.study_id()
    for name in ("summary.md", "results.json", "capacity.png", "persistence.png", "looks_memn2n.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert "Largest |TF - torch|" in (tmp_path / "summary.md").read_text()


def test_interrupted_study_resumes_from_its_finished_points(tmp_path, monkeypatch):
    need("torch")
    config = tiny(frameworks=("torch",), pairs=(2, 3))
    trained = []
    real = study_run.run_point

    def interrupted(config, point, *args, **kwargs):
        if trained:
            raise KeyboardInterrupt
        trained.append(point.key)
        return real(config, point, *args, **kwargs)

    monkeypatch.setattr(study_run, "run_point", interrupted)
    with pytest.raises(KeyboardInterrupt):
        study_run.run_study(config, tmp_path)
    assert [p.name for p in (tmp_path / "points").iterdir()] == [f"{trained[0]}.json"]

    def counted(config, point, *args, **kwargs):
        trained.append(point.key)
        return real(config, point, *args, **kwargs)

    monkeypatch.setattr(study_run, "run_point", counted)
    records = study_run.run_study(config, tmp_path)
    assert trained == ["capacity-memn2n-2-s0", "capacity-memn2n-3-s0"]  # the first is not trained again
    assert set(records) == set(trained)


def test_directory_of_another_study_or_other_files_is_refused(tmp_path):
    store.open_study(tmp_path / "a", tiny(frameworks=("torch",)))
    with pytest.raises(ValueError, match="holds another study"):
        store.open_study(tmp_path / "a", tiny(frameworks=("torch",), recall_steps=4))
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="holds no twinmem study"):
        store.open_study(tmp_path / "b", tiny())
    (tmp_path / "c").write_text("a file")
    with pytest.raises(ValueError, match="directory"):
        store.open_study(tmp_path / "c", tiny())
    # A point another study left (same key, other id) is not taken as this one's.
    config = tiny(frameworks=("torch",))
    point = Point("capacity", "memn2n", 2, 0)
    store.save_point(tmp_path / "a", point, {"study_id": "someone-else"})
    assert store.load_point(tmp_path / "a", point, config) is None


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(mechanisms=("gru",)), "Unknown mechanism 'gru'"),
        (dict(length_mechanisms=("dnc",)), "Unknown length mechanism 'dnc'"),
        (dict(babi_tasks=(4,)), "Unknown bAbI task 4"),
        (dict(frameworks=("jax",)), "Unknown framework 'jax'"),
        (dict(mechanisms=("tiny_gpt",), pairs=(2, 8), windows={"tiny_gpt": 10}), "8 pairs needs a context of 18"),
        (dict(persistence_load=5), "persistence_load"),
    ],
)
def test_bad_names_and_points_are_refused(overrides, message):
    with pytest.raises(ValueError, match=message):
        tiny(**overrides)
    with pytest.raises(ValueError, match="Unknown profile 'huge'"):
        make_config("huge")


def test_command_line_names_the_bad_mechanism(capsys, tmp_path):
    assert main(["--quick", "--mechanism", "gru", "--out", str(tmp_path / "s")]) == 2
    assert "Unknown mechanism 'gru'" in capsys.readouterr().err


def test_kv_memory_network_and_lstm_gates_in_both_twins(tmp_path):
    """KV-MemNN on recall, and the read-outs the issue asks for: KV-MemNN's hops and the LSTM's gates."""
    if not FRAMEWORKS:
        pytest.skip("neither TensorFlow nor torch is installed")
    config = tiny(mechanisms=("kv_memory_network", "lstm_language_model"))
    records = study_run.run_study(config, tmp_path)
    write_outputs(tmp_path, records, config, 1.0)
    kv, lstm = records["capacity-kv_memory_network-2-s0"], records["capacity-lstm_language_model-2-s0"]
    vocab = 2 + 8 + 2  # keys (as many as the largest load), values, "?", MemN2N's padding id 0
    assert kv["parameters"] == 2 * vocab * 64 + 2 * 64 * 64  # A and B (V, d = 64), the R of 2 hops
    hops = np.asarray(kv["looks"]["maps"][FRAMEWORKS[0]]["hop_weights"])
    assert hops.shape == (2, 2) and np.allclose(hops.sum(axis=1), 1, atol=1e-5)
    gates = lstm["looks"]["maps"][FRAMEWORKS[0]]
    assert set(gates) == {"input_gate", "forget_gate", "output_gate"}
    assert all(np.asarray(g).shape == (6, 128) and 0 <= np.min(g) <= np.max(g) <= 1 for g in gates.values())
    row = lstm["looks"]["row"]
    assert len(row["positions"]) == 6 and row["positions"][-2] == "?" and row["query"] == row["positions"][-1]
    if len(FRAMEWORKS) == 2:
        for r in (kv, lstm):
            assert r["loss_drift"] < 1e-4 and r["looks"]["max_diff_same_weights"] < 1e-5
    for name in ("looks_kv_memory_network.png", "looks_lstm_language_model.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    text = (tmp_path / "summary.md").read_text()
    assert "kv_memory_network" in text and "| capacity | lstm_language_model |" in text


def test_kv_memory_network_rows_hold_the_recall_pairs():
    """Key k, value v, one slot a pair (slot 0 = the last), the query k: the queried slot holds the answer."""
    config = make_config("quick")
    s = recall_setup(config, Point("capacity", "kv_memory_network", 8, 0))
    rows = s.task.batch(32, seed=3)
    tokens = s.task.batch.func(config, 8, "tiny_gpt", 32, seed=3)["tokens"]  # the same rows, as tokens
    assert rows["keys"].shape == rows["values"].shape == (32, 16, 1) and rows["query"].shape == (32, 1)
    names = recall_token_names(config)
    for b in range(32):
        pairs = tokens[b, :16].reshape(8, 2)[::-1] + 1
        assert np.array_equal(rows["keys"][b, :8, 0], pairs[:, 0]) and not rows["keys"][b, 8:].any()
        assert np.array_equal(rows["values"][b, :8, 0], pairs[:, 1])
        slot = 8 - 1 - rows["query_index"][b]
        assert rows["keys"][b, slot, 0] == rows["query"][b, 0] and rows["values"][b, slot, 0] == rows["answers"][b]
        assert names[rows["answers"][b] - 1].startswith("v")
    assert s.chance == 1 / 8 and s.task.inputs == ("query", "keys", "values")


def test_quick_profile_points_and_seeds():
    points = QUICK.points()
    keys = {p.key for p in points}
    assert set(QUICK.mechanisms) == set(RECALL_MECHANISMS) and "kv_memory_network" in RECALL_MECHANISMS
    for mech in RECALL_MECHANISMS:  # three seeds at the persistence load, the NTM's too
        assert {f"capacity-{mech}-8-s{s}" for s in range(3)} <= keys
    assert "capacity-ntm-16-s0" not in keys
    assert {p.seed for p in points if p.part == "length" and p.mechanism == "ntm"} == {0, 1, 2}
    assert {p.seed for p in points if p.part == "length" and p.mechanism == "lstm"} == {0}
    assert {(p.x, p.seed) for p in points if p.part == "babi"} == {(t, s) for t in (1, 2, 3, 6, 7) for s in range(3)}


def _fake(part, mech, x, seed, tf, torch, **extra):
    res = {
        fw: {"measure": v, "held_out_rows": 10, "wall_s": 1.0, "losses": [1.0], **extra}
        for fw, v in (("tf", tf), ("torch", torch))
    }
    return {
        "point": {"part": part, "mechanism": mech, "x": x, "seed": seed},
        "parameters": 10,
        "measure": "m",
        "frameworks": res,
        "loss_drift": 1e-5,
        "point_wall_s": 3.0,
    }


def test_seeds_of_copy_and_babi_show_as_mean_and_range(tmp_path):
    config = make_config("quick", mechanisms=("memn2n",), pairs=(2,), persistence_load=2)
    records = {}
    for seed, errors in enumerate((1.0, 2.0, 6.0)):
        lengths = {str(n): errors * n / 10 for n in config.copy_test_lens}
        records[f"l{seed}"] = _fake("length", "ntm", 10, seed, 0.1, 0.1, bit_errors_by_length=lengths)
        records[f"b{seed}"] = _fake("babi", "memn2n", 3, seed, 0.9 - 0.1 * seed, 0.9 - 0.1 * seed)
    assert results.length(records)["ntm"]["tf"][40] == [4.0, 8.0, 24.0]
    assert np.allclose(results.babi_errors(records)[3]["torch"], [10, 20, 30])
    text = summary.summary(records, config)
    assert "12.00 [4.00, 24.00]" in text and "20.0 [10.0, 30.0]" in text
    assert results.part_seconds(records) == {"length": (3, 9.0), "babi": (3, 9.0)}
    write_outputs(tmp_path, records, config, None)
    assert (tmp_path / "length.png").stat().st_size > 0 and (tmp_path / "babi.png").stat().st_size > 0


def test_points_in_parallel_give_the_same_records(tmp_path):
    need("torch")
    config = tiny(frameworks=("torch",), pairs=(2, 3))
    one = study_run.run_study(config, tmp_path / "one")
    two = study_run.run_study(config, tmp_path / "two", jobs=2)
    assert list(one) == list(two) == ["capacity-memn2n-2-s0", "capacity-memn2n-3-s0"]
    for key in one:
        assert one[key]["frameworks"]["torch"]["losses"] == two[key]["frameworks"]["torch"]["losses"]
    with pytest.raises(ValueError, match="jobs"):
        study_run.run_study(config, tmp_path / "three", jobs=0)
