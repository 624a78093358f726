"""`twinmem study`: a tiny study end to end in both twins, resuming, refusing another study, bad names."""

import json

import pytest
from conftest import need

from twinmem.frameworks import unavailable
from twinmem.study import run as study_run
from twinmem.study import store
from twinmem.study.__main__ import main
from twinmem.study.cli import write_outputs
from twinmem.study.config import Point, make_config

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
