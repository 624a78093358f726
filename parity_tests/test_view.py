"""`twinmem view`: the pairing of the twins' lines, the placing of every figure, the site and its refusals.

No framework is needed: the pages are built from the source files and from records (here made up,
with the names the NumPy reference gives); one case runs the real parity harness where it can.
"""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import asdict

import pytest
from conftest import need

from twinmem import registry
from twinmem.parity import PAIRS, TOLERANCES, Record
from twinmem.view import MARKER, ViewOptions, add_parser, build_site, equation, run_view
from twinmem.view.align import pair_lines
from twinmem.view.place import pairs, placements
from twinmem.view.records import measure
from twinmem.view.source import docstring

SMALL = ["scaled_dot_product_attention", "multi_head_attention"]


# Records made without the frameworks: the quantity names come from the NumPy reference (its
# intermediates, outputs, floating inputs and weights), the figures are invented.
def fake_records(name: str, failing: tuple[str, str, str] | None = None) -> list[Record]:
    """Every quantity of the model's default variant, in both dtypes and all pairs, passing; ``failing``
    = (dtype, pair, quantity) fails there and in every later quantity of that pair, as a real
    divergence does."""
    entry = registry.get(name)
    config = entry.make_config()
    weights, inputs = entry.random_weights(config, 0), entry.make_inputs(config, 1)
    outputs, mids = entry.reference(weights, config, **inputs)
    quantities = [f"mid:{n}" for n in mids]
    quantities += [f"out:{n}" for n, o in zip(entry.outputs, outputs, strict=True) if o is not None]
    quantities += [f"grad:input:{n}" for n, x in inputs.items() if x.dtype.kind == "f"]
    quantities += [f"grad:weight:{n}" for n in weights]
    label = name if list(entry.variants) == ["default"] else f"{name}[default]"
    out = []
    for dtype in registry.DTYPES:
        for a, b in PAIRS:
            broken = False
            for q in quantities:
                broken = broken or failing == (dtype, f"{a}-{b}", q)
                rel = 0.5 if broken else TOLERANCES[dtype] / 10
                where = f"worst at (0, 1): {a}=0.25, {b}=0.75" if broken else f"worst at (0, 0): {a}=1.0, {b}=1.0"
                out.append(Record(label, dtype, f"{a}-{b}", q, rel, rel, TOLERANCES[dtype], not broken, where))
    return out


def _placed_lines(name: str, quantity: str) -> list[str]:
    """The TF source lines a quantity is shown beside."""
    entry = registry.get(name)
    ps = pairs(entry)
    out = []
    for k, j in placements(entry, ps, [quantity])[quantity]:
        p, row = ps[k], ps[k].rows[j]
        assert p.tf is not None and row.tf is not None
        out.append(p.tf.lines[p.tf.first - 1 + row.tf].strip())
    return out


@pytest.mark.parametrize("name", registry.names())
def test_every_quantity_of_every_model_sits_on_a_line(name):
    entry = registry.get(name)
    quantities = list(dict.fromkeys(r.quantity for r in fake_records(name)))
    where = placements(entry, pairs(entry), quantities)
    assert [q for q in quantities if not where[q]] == []


def test_an_intermediate_sits_on_the_line_that_assigns_it():
    assert _placed_lines("scaled_dot_product_attention", "mid:scores") == [
        "output, attention_weights, scores = scaled_dot_product(query, key, value, key_mask, c.causal)"
    ]
    # Assigned in a branch (the cache) after the unconditional assignment: both lines may give the value.
    assert sorted(line.split("=")[0].strip() for line in _placed_lines("multi_head_attention", "mid:k")) == [
        "k",
        "k, v",
    ]
    assert _placed_lines("gru", "mid:cells.0.z") == ['z = tf.sigmoid(gx[:, cols["z"]] + gh[:, cols["z"]])']


def test_a_weight_gradient_sits_beside_its_declaration():
    assert _placed_lines("multi_head_attention", "grad:weight:W_q") == [
        'self.W_q = weight(self, "W_q", (c.d_model, inner))'
    ]
    # A sub-twin's weight, under its prefix, sits on the sub-twin's declaration.
    assert _placed_lines("tiny_gpt", "grad:weight:blocks.0.attention.W_o")[0].startswith("self.W_o = weight(")


def test_lines_pair_up_and_every_line_appears_once_in_order():
    for p in pairs(registry.get("multi_head_attention")):
        for side, s in (("tf", p.tf), ("torch", p.torch)):
            assert s is not None
            seen = [getattr(r, side) for r in p.rows if getattr(r, side) is not None]
            assert seen == list(range(s.last - s.first + 1))
    rows = pair_lines(["y = tf.nn.softmax(x, axis=-1)", "z = 1"], ["y = torch.softmax(x, dim=-1)", "z = 1"])
    assert [r.same for r in rows] == [True, True]


@pytest.mark.parametrize("entry", registry.entries(), ids=lambda e: e.name)
def test_every_docstring_equation_becomes_mathml(entry):
    main = pairs(entry)[0].tf
    assert main is not None
    latex = equation.math_block(docstring(main))
    assert latex
    assert equation.to_mathml(latex).startswith("<math")


def _site(tmp_path, records=None, models=SMALL, **kw):
    out = tmp_path / "site"
    recs = records if records is not None else [r for m in models for r in fake_records(m)]
    build_site(out, models, recs, **kw)
    return out


def test_the_site_has_an_index_and_a_page_per_model_with_every_figure(tmp_path):
    out = _site(tmp_path)
    assert sorted(p.name for p in out.iterdir()) == sorted([MARKER, "index.html", *(f"{m}.html" for m in SMALL)])
    index = (out / "index.html").read_text()
    for m in SMALL:
        assert f'href="{m}.html"' in index
        page = (out / f"{m}.html").read_text()
        assert "<math" in page and 'class="code tf"' in page and 'class="code torch"' in page
        for q in {r.quantity for r in fake_records(m)}:
            assert f'data-q="{q}"' in page, q
        assert "Figures of no line" not in page
        assert not re.search(r'(src|href)="(https?:)?//|<link|<script', page)  # nothing fetched: works offline


def test_a_failing_pair_is_red_at_its_first_divergence(tmp_path):
    records = fake_records("scaled_dot_product_attention", ("float32", "tf-torch", "mid:attention_weights"))
    out = _site(tmp_path, records, ["scaled_dot_product_attention"])
    page = (out / "scaled_dot_product_attention.html").read_text()
    assert 'class="banner"' in page and "first divergence at <code>mid:attention_weights</code>" in page
    assert "worst at (0, 1): tf=0.25, torch=0.75" in page
    diverging = [row for row in page.split('<tr class="')[1:] if "diverge" in row.split('"')[0]]
    assert diverging and all('data-q="mid:attention_weights"' in row for row in diverging)
    assert "1 of" not in page.split("parity:")[1][:10]  # the status counts every failing record
    assert "fail" in (out / "index.html").read_text()


def test_a_previous_site_is_overwritten_but_a_users_directory_is_not(tmp_path):
    out = _site(tmp_path)
    _site(tmp_path, models=["scaled_dot_product_attention"])  # over a previous site: fine, stale pages gone
    assert not (out / "multi_head_attention.html").exists()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not a twinmem view site"):
        build_site(mine, SMALL, [])
    assert (mine / "notes.txt").read_text() == "mine" and len(list(mine.iterdir())) == 1
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is not a directory"):
        build_site(tmp_path / "file", SMALL, [])


def test_an_unknown_model_is_named(tmp_path):
    with pytest.raises(ValueError, match="Unknown model 'no_such_model'"):
        run_view(ViewOptions(("no_such_model",), str(tmp_path / "v"), None, None, ("float64",)))
    assert not (tmp_path / "v").exists()


@pytest.mark.parametrize(
    "content, message",
    [
        ({"records": []}, "expected a JSON list of records"),
        ([{"model": "rnn"}], "missing .* \\(a file of another twinmem version"),
        ("EXTRA", "unknown \\['seconds'\\]"),
        ("MODEL", "unknown model 'gone_model'"),
        ("TYPE", "field 'max_rel' is 'small'"),
        ("NOTJSON", "is not JSON"),
    ],
)
def test_a_parity_file_of_another_version_or_shape_is_refused(tmp_path, content, message):
    good = asdict(fake_records("scaled_dot_product_attention")[0])
    rows = {
        "EXTRA": [{**good, "seconds": 1.0}],
        "MODEL": [{**good, "model": "gone_model"}],
        "TYPE": [{**good, "max_rel": "small"}],
    }.get(content if isinstance(content, str) else "", content)
    path = tmp_path / "p.json"
    path.write_text("{not json" if content == "NOTJSON" else json.dumps(rows))
    with pytest.raises(ValueError, match=message):
        run_view(ViewOptions(("scaled_dot_product_attention",), str(tmp_path / "v"), str(path), None, ("float64",)))
    assert not (tmp_path / "v").exists()


def test_bench_figures_and_links(tmp_path):
    bench = tmp_path / "bench"
    bench.mkdir()
    row = {"model": "multi_head_attention", "impl": "twin", "pass": "forward", "shape": "B4", "device": "cpu"}
    rows = [
        {**row, "framework": "tf", "mode": "graph", "median_s": 0.002},
        {**row, "framework": "tf", "mode": "eager", "median_s": 0.004},
        {**row, "framework": "torch", "mode": "eager", "median_s": 0.003},
    ]
    (bench / "results.json").write_text(json.dumps(rows))
    (bench / "report.md").write_text("# report\n")
    out = tmp_path / "site"
    run_view(_opts(tmp_path, bench))
    index = (out / "index.html").read_text()
    assert "2 ms (graph, forward, B4, cpu)" in index and "3 ms (eager, forward, B4, cpu)" in index
    page = (out / "multi_head_attention.html").read_text()
    assert 'href="../bench/report.md"' in page and 'id="bench"' in page
    (bench / "results.json").write_text(json.dumps([{"model": "x"}]))
    with pytest.raises(ValueError, match="lacks"):
        run_view(_opts(tmp_path, bench))


def _opts(tmp_path, bench):
    parity = tmp_path / "p.json"
    parity.write_text(json.dumps([asdict(r) for m in SMALL for r in fake_records(m)]))
    return ViewOptions(tuple(SMALL), str(tmp_path / "site"), str(parity), str(bench), ("float64",))


def test_the_command_line_takes_models_out_and_parity(tmp_path, capsys):
    parity = tmp_path / "p.json"
    parity.write_text(json.dumps([asdict(r) for r in fake_records("scaled_dot_product_attention")]))
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["view", "scaled_dot_product_attention", "--out", str(tmp_path / "v"), "--parity", str(parity)]
    )
    assert args.func(args) == 0
    assert (tmp_path / "v" / "scaled_dot_product_attention.html").is_file()
    assert "open file://" in capsys.readouterr().out


def test_twinmem_cli_prints_view_errors_as_errors(tmp_path, capsys):
    from twinmem import cli

    if "view" not in open(cli.__file__).read():
        pytest.skip("twinmem.cli does not register `view` yet (add twinmem.view.add_parser(sub))")
    (tmp_path / "f").write_text("x")
    assert cli.main(["view", "scaled_dot_product_attention", "--out", str(tmp_path / "f")]) == 2
    assert "twinmem: error: --out" in capsys.readouterr().err


def test_measured_figures_from_the_harness(tmp_path):
    need("tf")
    need("torch")
    records, _ = measure(["scaled_dot_product_attention"], ["float64"])
    out = tmp_path / "site"
    build_site(out, ["scaled_dot_product_attention"], records)
    page = (out / "scaled_dot_product_attention.html").read_text()
    assert all(f'data-q="{q}"' in page for q in {r.quantity for r in records})
    assert "comparisons within tolerance" in page
