"""The command line's error paths, walked: each user mistake is one line naming it, never a traceback.

Every case calls ``cli.main`` in-process: an exception that escapes it (a traceback for the user)
fails the test, as does an exit code other than 2 or a message that does not name the mistake.
"""

import json
import re

import pytest

from twinmem import cli


def _setup(tmp_path, what):
    """Files a case needs, made in tmp_path; returns a dict of the paths by name."""
    paths = {"dir": tmp_path, "missing": tmp_path / "missing.safetensors", "nodir": tmp_path / "no" / "x.json"}
    bench = tmp_path / "bench"
    bench.mkdir()
    paths["bench"] = bench
    if what is not None:
        (bench / "benchmark.json").write_text(what)
    return paths


CASES = [
    # (argv built from the paths, benchmark.json content or None, the words the message must hold)
    (lambda p: ["parity", "--model", "no_such_model"], None, "no_such_model"),
    (lambda p: ["parity", "--model", "rnn", "--json", str(p["nodir"])], None, "--json .* directory does not exist"),
    (lambda p: ["parity", "--model", "rnn", "--json", str(p["dir"])], None, "--json .* is a directory"),
    (lambda p: ["report", str(p["bench"])], None, "holds no benchmark.json"),
    (lambda p: ["report", str(p["bench"])], "{not json", "is not JSON"),
    (lambda p: ["report", str(p["bench"])], "[]", "holds a JSON list"),
    (lambda p: ["report", str(p["bench"])], "{}", "is not a benchmark.json"),
    (lambda p: ["report", str(p["bench"])], '{"benchmarks": [{"extra_info": {"model": "m"}}]}', "is not a benchmark"),
    (lambda p: ["report", str(p["bench"])], '{"benchmarks": []}', "holds no twinmem case"),
    (lambda p: ["report", str(p["dir"]), str(p["bench"])], None, "holds no results.json"),
    (lambda p: ["report", str(p["bench"]), str(p["bench"]), "--out", str(p["nodir"])], None, "--out .* does not exist"),
    (lambda p: ["generate", "--weights", str(p["missing"])], None, "not found"),
    (lambda p: ["generate", "--weights", str(p["dir"])], None, "safetensors"),
    (lambda p: ["convert", "--from", "canonical", "--to", "torch", str(p["missing"]), str(p["dir"] / "o")], None, "not found"),
]  # fmt: skip


@pytest.mark.parametrize(("argv", "bench", "words"), CASES, ids=[f"{i}" for i in range(len(CASES))])
def test_a_mistake_is_one_line_naming_it(tmp_path, capsys, argv, bench, words):
    paths = _setup(tmp_path, bench)
    assert cli.main(argv(paths)) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("twinmem: error:") and "\n" not in err
    assert re.search(words, err), err


def test_an_empty_benchmark_keeps_the_results_it_would_replace(tmp_path, capsys):
    (tmp_path / "benchmark.json").write_text(json.dumps({"benchmarks": []}))
    (tmp_path / "results.json").write_text('[{"model": "kept"}]')
    assert cli.main(["report", str(tmp_path)]) == 2
    assert (tmp_path / "results.json").read_text() == '[{"model": "kept"}]'


def test_a_bfloat16_file_is_named_as_such(tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file

    from twinmem.weights import load_weights

    save_file({"W": torch.zeros(2, 2, dtype=torch.bfloat16)}, str(tmp_path / "w.safetensors"))
    with pytest.raises(ValueError, match=r"holds BF16 tensors: twinmem loads float32 and float64"):
        load_weights(tmp_path / "w.safetensors")
