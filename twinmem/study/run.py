"""Train and measure a study's points, both twins each, resuming from the points already written.

Per point, each twin trains from the same canonical initial weights on the same batches
(``train_twin``); then, on held-out rows no training batch contained:

- capacity: the accuracy (``train_twin``'s measure) and, per row, whether the answer is right, grouped
  by the distance (in pairs) between the queried pair and the query: the persistence curve;
- at the persistence load, seed 0: one held-out row's read-out from each twin (``where it looks``:
  attention weights, memory hop weights, the NTM's read and write weightings, the LSTM's gates),
  with each twin's own trained weights and, to separate the frameworks from the two trainings,
  with the TF twin's trained weights loaded into both;
- length: bit errors per sequence at each test length;
- babi: the answer accuracy.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from twinmem import registry
from twinmem.frameworks import pin_threads, unavailable
from twinmem.study import evaluate, store
from twinmem.study.config import Point, StudyConfig
from twinmem.study.tasks import Setup, copy_test_rows, recall_token_names, setup
from twinmem.train import EVAL_SEED, HELD_OUT_ROWS, batch_seed, initial_weights, row_keys, train_twin, unseen_rows
from twinmem.weights import Weights

# The mechanisms whose read-out is shown, and the LSTM gates shown (its named intermediates i, f, o).
LOOKED_AT = ("tiny_gpt", "lstm_language_model", "memn2n", "kv_memory_network", "ntm")
LSTM_GATES = {"i": "input_gate", "f": "forget_gate", "o": "output_gate"}


def _counting(batch: Callable[..., dict[str, np.ndarray]], advance: Callable[[], None]) -> Callable[..., Any]:
    def counted(size: int, seed: Any = 0) -> dict[str, np.ndarray]:
        advance()
        return batch(size, seed=seed)

    return counted


def held_out(s: Setup, seed: int) -> dict[str, np.ndarray]:
    """``train_twin``'s held-out rows: the EVAL_SEED stream less every row a training batch contained."""
    seen: set[bytes] = set()
    for step in range(s.budget.steps):
        seen.update(row_keys(s.task.batch(s.budget.batch_size, seed=batch_seed(seed, step))))
    return unseen_rows(s.task.batch(HELD_OUT_ROWS, seed=np.random.SeedSequence(EVAL_SEED)), seen)


def read_weights(model: str, mids: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The read-out of row 0: attention (layers, heads, T, T), MemN2N / KV-MemNN hops (hops, M), the
    NTM's read and write weightings (T, N), the LSTM's input, forget and output gates (T, H) each."""
    if model == "tiny_gpt":
        names = sorted(n for n in mids if n.endswith("attention.attention_weights"))
        return {"attention_weights": np.stack([mids[n][0] for n in names])}
    if model in ("memn2n", "kv_memory_network"):
        hops = sorted((n for n in mids if n.startswith("p_")), key=lambda n: int(n[2:]))
        return {"hop_weights": np.stack([mids[n][0] for n in hops])}
    if model == "lstm_language_model":
        return {name: mids[f"lstm.cells.0.{g}"][0] for g, name in LSTM_GATES.items()}
    return {"read_weights": mids["read_weights"][0], "write_weights": mids["write_weights"][0]}


def describe_row(config: StudyConfig, model: str, pairs: int, row: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """What one recall row holds, in words: per position (token encodings) or per memory slot, the query,
    the answer and the distance (in pairs) from the queried pair to the query."""
    names = recall_token_names(config)
    out: dict[str, Any] = {"distance": int(pairs - row["query_index"][0])}
    if "tokens" in row:
        out["positions"] = [names[t] for t in row["tokens"][0]]
        out["query"], out["answer"] = names[row["tokens"][0][-1]], names[row["answer"][0]]
        return out
    if model == "memn2n":
        keys, values, query = row["stories"][0][:, 0], row["stories"][0][:, 1], row["query"][0][0]
    else:
        keys, values, query = row["keys"][0][:, 0], row["values"][0][:, 0], row["query"][0][0]
    out["slots"] = [f"{names[k - 1]} {names[v - 1]}" if k else "" for k, v in zip(keys, values, strict=True)]
    out["query"], out["answer"] = names[query - 1], names[row["answers"][0] - 1]
    return out


def _looks(
    s: Setup, config: Any, rows: dict[str, np.ndarray], trained: dict[str, Weights], described: dict[str, Any]
) -> dict[str, Any]:
    entry = registry.get(s.model)
    inputs = s.task.model_inputs.get(s.model, s.task.inputs)
    if getattr(config, "path", "explicit") != "explicit":  # a fused recurrent kernel returns no gates
        config = replace(config, path="explicit")
    example = {n: x[:1] for n, x in rows.items()}
    own, same = {}, {}
    first = next(iter(trained))
    for fw, weights in trained.items():
        _, mids = evaluate.forward(fw, entry.build(fw, config, "float32", weights), example, inputs, True)
        own[fw] = read_weights(s.model, mids)
        _, mids = evaluate.forward(fw, entry.build(fw, config, "float32", trained[first]), example, inputs, True)
        same[fw] = read_weights(s.model, mids)

    def max_diff(maps: dict[str, dict[str, np.ndarray]]) -> float | None:
        if len(maps) < 2:
            return None
        a, b = maps.values()
        return max(float(np.abs(a[n] - b[n]).max()) for n in a)

    shown = "tokens" if "tokens" in example else inputs[0]
    return {
        "example": {n: example[n][0].tolist() for n in (shown, "answer", "answers") if n in example},
        "row": described,
        # Six decimals are plenty for a heatmap (the max differences above are of the unrounded maps).
        "maps": {fw: {n: np.round(m, 6).tolist() for n, m in maps.items()} for fw, maps in own.items()},
        "max_diff_own_weights": max_diff(own),
        "max_diff_same_weights": max_diff(same),
    }


def run_point(
    config: StudyConfig, point: Point, progress: Progress | None = None, console: Console | None = None
) -> dict[str, Any]:
    """Train ``point`` in every framework of the study and measure it; the record written for it."""
    start = time.perf_counter()
    s = setup(config, point)
    entry = registry.get(s.model)
    model_config = entry.make_config(**s.config)
    weights = initial_weights(entry.weight_shapes(model_config), point.seed)
    bar = (
        None if progress is None else progress.add_task(point.key, total=(s.budget.steps + 1) * len(config.frameworks))
    )
    advance = (lambda: None) if progress is None or bar is None else (lambda: progress.advance(bar))
    task = replace(s.task, batch=_counting(s.task.batch, advance))
    inputs = s.task.model_inputs.get(s.model, s.task.inputs)
    results: dict[str, dict[str, Any]] = {}
    trained: dict[str, Weights] = {}
    for fw in config.frameworks:
        r = train_twin(fw, entry, model_config, weights, task, s.budget, point.seed)
        trained[fw] = r["weights"]
        results[fw] = {
            "measure": r[s.task.measure],
            "held_out_rows": r["held_out_rows"],
            "wall_s": r["wall_s"],
            "losses": r["losses"],
        }
    record: dict[str, Any] = {
        "study_id": config.study_id(),
        "point": asdict(point),
        "model": s.model,
        "model_config": s.config,
        "budget": asdict(s.budget),
        "parameters": int(sum(np.prod(w.shape) for w in weights.values())),
        "measure": s.task.measure,
        "chance": s.chance,
        "frameworks": results,
    }
    if len(results) == 2:
        a, b = (np.asarray(r["losses"]) for r in results.values())
        record["loss_drift"] = float(np.abs(a - b).max())
    if point.part == "capacity":
        rows = held_out(s, point.seed)
        distance = point.x - rows["query_index"]  # 1 = the last pair before the query
        for fw, w in trained.items():
            logits, _ = evaluate.forward(fw, entry.build(fw, model_config, "float32", w), rows, inputs)
            correct = evaluate.answers_correct(logits, rows)
            results[fw]["by_distance"] = [float(correct[distance == d].mean()) for d in range(1, point.x + 1)]
        if point.x == config.persistence_load and point.seed == 0 and s.model in LOOKED_AT:
            row = {n: x[:1] for n, x in rows.items()}
            record["looks"] = _looks(s, model_config, rows, trained, describe_row(config, s.model, point.x, row))
    if point.part == "length":
        for fw, w in trained.items():
            model = entry.build(fw, model_config, "float32", w)
            results[fw]["bit_errors_by_length"] = {
                str(n): evaluate.measure(fw, "bit_errors", model, copy_test_rows(n, config.copy_test_rows), inputs)
                for n in config.copy_test_lens
            }
    record["point_wall_s"] = time.perf_counter() - start  # training, held-out rows and measures, both twins
    if progress is not None and bar is not None:
        progress.update(bar, completed=(s.budget.steps + 1) * len(config.frameworks))
    if console is not None:
        shown = ", ".join(f"{fw} {r['measure']:.4g}" for fw, r in results.items())
        console.print(f"{point.key}: {s.task.measure} {shown}")
    return record


# Rough seconds of one point (both twins, this 2-core CPU), to start the longest first when points run in
# parallel: the NTM, then the copy points, then the rest, in the config's order within each.
_COST = {"ntm": 3, "lstm": 2, "tiny_gpt": 1, "lstm_language_model": 1}


def _worker_start() -> None:
    pin_threads(1)


def run_study(
    config: StudyConfig, out: Path, console: Console | None = None, jobs: int = 1
) -> dict[str, dict[str, Any]]:
    """Every point of ``config``, from ``out`` where finished, trained and written there otherwise.

    ``jobs`` > 1 trains that many points at once, each in a process of its own (one thread per twin
    in each): the same records as one at a time (every point is seeded on its own), in less wall time
    on a machine with as many idle cores; a point's progress is then one line when it is done.
    """
    for fw in config.frameworks:
        reason = unavailable(fw)
        if reason:
            raise ValueError(f"Framework {fw!r} is not available: {reason}")
    if jobs < 1:
        raise ValueError(f"Expected jobs >= 1. Received: {jobs}")
    store.open_study(out, config)
    records: dict[str, dict[str, Any]] = {}
    todo = []
    for point in config.points():
        record = store.load_point(out, point, config)
        if record is None:
            todo.append(point)
        else:
            records[point.key] = record
    console = console or Console()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    if jobs == 1 or len(todo) < 2:
        pin_threads(1)
        with Progress(*columns, console=console) as progress:
            for point in todo:
                record = run_point(config, point, progress, console)
                store.save_point(out, point, record)
                records[point.key] = record
    else:
        todo.sort(key=lambda p: -_COST.get(p.mechanism, 0))  # stable: the config's order within a cost
        context = multiprocessing.get_context("spawn")  # no fork of a process that may hold a framework runtime
        with (
            Progress(*columns, console=console) as progress,
            ProcessPoolExecutor(jobs, mp_context=context, initializer=_worker_start) as pool,
        ):
            bar = progress.add_task(f"{len(todo)} points, {jobs} at a time", total=len(todo))
            futures = {pool.submit(run_point, config, point): point for point in todo}
            try:
                for future in as_completed(futures):
                    point, record = futures[future], future.result()
                    store.save_point(out, point, record)
                    records[point.key] = record
                    shown = ", ".join(f"{fw} {r['measure']:.4g}" for fw, r in record["frameworks"].items())
                    console.print(f"{point.key}: {record['measure']} {shown} ({record['point_wall_s']:.0f} s)")
                    progress.advance(bar)
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise
    return {p.key: records[p.key] for p in config.points() if p.key in records}
