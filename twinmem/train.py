"""`twinmem train`: train a twin (or both, side by side) on a synthetic memory task.

Both twins start from the same canonical initial weights, see the same batches in the same order
and take Adam steps with the same hyper-parameters (``{tf,torch}_impl/train.py``), so their loss
curves should coincide up to float32 rounding; ``--framework both`` prints how far they drift and
each twin's answer accuracy on held-out rows.

A task is a ``Task``: a batch generator, the names of the arrays the model reads, a loss and a
held-out measure by name (``LOSSES`` and ``MEASURES`` in the framework train modules) and, per model,
the config sized for the task and the optimisation budget (with the NTM's gradient clipping).
Adding a (model, task) pair is one entry in ``TASKS``. The figures these defaults reach, and the
commands that give them, are in ``docs/training.md``.

``--dtype mixed_bfloat16`` / ``mixed_float16`` (the families of ``twinmem.entry.LOW_PRECISION_FAMILIES``):
the optimizer updates float32 master weights, which are what is saved; every step rounds them once
(to nearest, ties to even) into a twin built in bfloat16 / float16, whose forward and backward
follow its family's precision rules; the loss is computed in float32 from upcast logits and the
16-bit gradients are upcast to float32 for the same Adam step as in float32 (``MIXED``). float16
scales the loss dynamically, on one schedule for both twins (``LossScale``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

import twinmem.entry
from twinmem import registry
from twinmem.entry import ModelEntry
from twinmem.frameworks import pin_threads, unavailable
from twinmem.parity import TOLERANCES, UNIT_ROUNDOFF
from twinmem.tasks import babi
from twinmem.tasks.copy import copy_task
from twinmem.tasks.recall import recall_task, recall_vocab_size
from twinmem.weights import Shapes, Weights, save_weights


@dataclass(frozen=True)
class Budget:
    steps: int = 1000  # Adam steps
    batch_size: int = 64  # rows per step
    learning_rate: float = 1e-3
    clip_norm: float | None = None  # global-norm gradient clipping (torch's clip_grad_norm_ rule); None = off
    # Piecewise-constant learning rate: ((step, rate), ...) = from that step (0-based) on, that rate.
    learning_rate_drops: tuple[tuple[int, float], ...] = ()
    # MemN2N's linear start (paper section 4.2): the model's `linear_start` is True for this many steps.
    linear_start_steps: int = 0


@dataclass(frozen=True)
class Task:
    batch: Callable[..., dict[str, np.ndarray]]  # (batch size, seed) -> arrays
    inputs: tuple[str, ...]  # the arrays the model takes, in order
    loss: str  # a key of LOSSES in tf_impl/train.py and torch_impl/train.py
    measure: str = "answer_accuracy"  # a key of MEASURES there: what the held-out rows report
    configs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # model -> config overrides
    budgets: Mapping[str, Budget] = field(default_factory=dict)  # model -> default budget
    model_inputs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # model -> its own `inputs`


# 4 pairs over 8 keys and 8 values: T = 10 tokens, V = 17; chance is 1/8.
_RECALL = dict(num_pairs=4, num_keys=8, num_values=8)
_RECALL_V = recall_vocab_size(_RECALL["num_keys"], _RECALL["num_values"])


def _recall_batch(batch: int, seed: int | np.random.SeedSequence = 0) -> dict[str, np.ndarray]:
    """Recall rows, plus ``one_hot`` float32 (B, T, V) of the tokens for a model of vectors (the NTM)."""
    x = recall_task(batch, seed=seed, **_RECALL)
    return {**x, "one_hot": np.eye(_RECALL_V, dtype=np.float32)[x["tokens"]]}


def _babi_task(number: int) -> Task:
    # 10 sentences a story (2 to 10 drawn per row), V = 30 words; measured in docs/training.md. Task 1:
    # 96.6 % at step 250, 99.2 % at 500 in both twins. At lr 0.01 it learns as fast, but once the
    # loss is near 0 Adam's spikes amplify float32 rounding and the twins' curves part (step ~270);
    # at 0.005 that happens after step 700. Task 2 stalls near 54 % without linear start (d = 20);
    # with 500 linear steps it reaches ~97 % by step 2000.
    if number == 1:
        budget = Budget(steps=500, batch_size=32, learning_rate=0.005)
    else:
        budget = Budget(steps=2000, batch_size=32, learning_rate=0.005, linear_start_steps=500)
    return Task(
        batch=partial(babi.generate, number, memory_size=10),
        inputs=("stories", "query"),
        loss="answers_cross_entropy",
        measure="answers_accuracy",
        configs={
            "memn2n": dict(
                vocab_size=len(babi.VOCAB), embedding_dim=20, memory_size=10, sentence_len=babi.SENTENCE_LEN, hops=3
            )
        },
        budgets={"memn2n": budget},
    )


TASKS = {
    "recall": Task(
        batch=_recall_batch,
        inputs=("tokens",),
        loss="answer_cross_entropy",
        configs={
            "tiny_gpt": dict(
                vocab_size=_RECALL_V,
                max_len=2 * _RECALL["num_pairs"] + 2,
                d_model=64,
                num_heads=4,
                head_dim=16,
                num_layers=2,
            ),
            # Dropout off: the twins would draw different masks, and the curves could not be compared.
            "lstm_language_model": dict(vocab_size=_RECALL_V, embed_dim=64, hidden_size=128, num_layers=1, dropout=0.0),
            # Tokens in as one-hot vectors, logits out at every step; ~99k parameters, as the others' ~100k.
            "ntm": dict(
                input_dim=_RECALL_V, output_dim=_RECALL_V, controller_size=128, memory_slots=16, memory_width=20
            ),
        },
        # The same budget for the three (issue 7's side-by-side table), the NTM's clipping aside.
        budgets={"tiny_gpt": Budget(), "lstm_language_model": Budget(), "ntm": Budget(clip_norm=10.0)},
        model_inputs={"ntm": ("one_hot",)},
    ),
    "babi1": _babi_task(1),
    "babi2": _babi_task(2),
    # Copy (Graves et al. 2014, section 4.1): sequences of 1 to 10 vectors of 6 random bits, inputs
    # with the two delimiter channels (I = 8), T = 22 steps; scored on the steps where the copy is due.
    "copy": Task(
        batch=partial(copy_task, max_len=10, bits=6, min_len=1),
        inputs=("inputs",),
        loss="masked_bit_cross_entropy",
        measure="bit_errors",
        configs={"ntm": dict(input_dim=8, output_dim=6, controller_size=64, memory_slots=16, memory_width=12)},
        # The learning rate drops to a third at step 1000: at 3e-3 throughout, loss spikes after the
        # NTM has learnt to copy leave ~0.2 bit errors per sequence in some runs (docs/training.md).
        budgets={
            "ntm": Budget(
                steps=1500, batch_size=16, learning_rate=3e-3, clip_norm=10.0, learning_rate_drops=((1000, 1e-3),)
            )
        },
    ),
}

# `--dtype`: float32, or mixed precision: the 16-bit dtype the twin computes in, the masters staying float32.
MIXED = {"mixed_bfloat16": "bfloat16", "mixed_float16": "float16"}
TRAIN_DTYPES = ("float32", *MIXED)


@dataclass(frozen=True)
class LossScale:
    """Dynamic loss scaling (mixed_float16), one schedule for both twins: torch's ``GradScaler`` and Keras'
    ``LossScaleOptimizer`` configured alike (``make_loss_scaler`` in the framework train modules).

    The loss is multiplied by the scale before the backward pass and the gradients divided by it after
    (exact: the scale is a power of 2), so that float16 gradients below 2^-24 do not flush to zero. A step
    whose gradients are not all finite is skipped (no Adam update, Adam's step count unchanged) and
    halves the scale; ``growth_interval`` finite steps in a row double it. Growth 2 and backoff 1/2 are
    both frameworks' defaults and the only factors Keras offers. The defaults' initial scales differ
    (torch 2^16, Keras 2^15); torch's is taken: a first step that overflows costs one skipped step.
    """

    initial: float = 2.0**16
    growth_interval: int = 2000  # both frameworks' default

    def __post_init__(self) -> None:
        # A power of 2, so that scaling and unscaling are exact and the scale stays one after halvings.
        if not (self.initial > 0 and np.isfinite(self.initial) and np.frexp(self.initial)[0] == 0.5):
            raise ValueError(f"Expected the initial loss scale to be a power of 2. Received: {self.initial}")
        if self.growth_interval < 1:
            raise ValueError(f"Expected the growth interval to be >= 1. Received: {self.growth_interval}")


# The schedule `twinmem train --dtype mixed_float16` runs (a test forces an overflow by replacing it).
LOSS_SCALE = LossScale()


def mixed_drift_bound(dtype: str, logit_scale: float) -> float:
    """The largest |loss_tf - loss_torch| two twins trained side by side in ``MIXED[dtype]`` may show over a
    short run (``parity_tests/test_train_mixed.py``), for logits whose largest magnitude is ``logit_scale``.

    float32's counterpart is ``twinmem.parity.TRAIN_DRIFT``. Derived from parity's bound: on equal weights
    the twins' 16-bit logits z agree within TOLERANCES[dtype] = 6 u relative to max(|z|, 1) (the tf-torch
    pair; measured at most 1.6 u), and the loss, a mean of cross-entropies logsumexp(z) - z_answer, moves
    by at most 2 max|dz|: 12 u max(|z|, 1). Past step 1 the masters stay float32 and take Adam's step on
    gradients that agree to the same few u, which moves the logits by a few u times the learning rate
    per step, far below one rounding of the logits; a component near zero that differs in sign
    (TRAIN_DRIFT's 2 lr) moves the loss by that near-zero gradient times lr. The bound is loose, as
    the twins round the same values the same way and part only where a float32 sum taken in another
    order crosses a rounding boundary; the test holds step 1 and the gradient norms besides.
    """
    return 2 * TOLERANCES[MIXED[dtype]] * max(logit_scale, 1.0)


# The task `--task` defaults to: the model's own (the issue's `twinmem train --model ntm`), else recall.
DEFAULT_TASKS = {"memn2n": "babi1", "ntm": "copy"}

# Random streams: training batch `step` of `--seed S` is drawn from SeedSequence(S, spawn_key=(step,)),
# the held-out rows from SeedSequence(EVAL_SEED), a stream no (S, step) gives. Small tasks still
# repeat rows by chance (there are 64 copy sequences of length 1), so a held-out row that some
# training batch contained is dropped before measuring (`unseen_rows`).
EVAL_SEED = 1_000_003
HELD_OUT_ROWS = 2000


def batch_seed(seed: int, step: int) -> np.random.SeedSequence:
    return np.random.SeedSequence(seed, spawn_key=(step,))


def row_keys(batch: Mapping[str, np.ndarray]) -> list[bytes]:
    """One key per row: the bytes of the row in every array of the batch."""
    names = sorted(batch)
    return [b"".join(np.ascontiguousarray(batch[n][i]).tobytes() for n in names) for i in range(len(batch[names[0]]))]


def unseen_rows(batch: Mapping[str, np.ndarray], seen: set[bytes]) -> dict[str, np.ndarray]:
    keep = np.array([k not in seen for k in row_keys(batch)])
    return {n: x[keep] for n, x in batch.items()}


def initial_weights(shapes: Shapes, seed: int) -> Weights:
    """Canonical initial weights for training, the same for both twins.

    Kernels N(0, 1/fan_in), fan_in = the size of the second-to-last axis (a stack of kernels, as
    MemN2N's (K + 1, V, d) ``E``, is a stack of (in, out) matrices), LayerNorm gains (names ending
    ``gamma``) one, other vectors (biases, shifts) zero: the parity harness's weights
    (``twinmem.weights.random_weights``) put noise on vectors to catch a missing bias, which is no
    way to start training.
    """
    rng = np.random.default_rng(seed)
    out: Weights = {}
    for name, shape in shapes.items():
        if len(shape) >= 2:
            out[name] = rng.standard_normal(shape) / np.sqrt(shape[-2])
        else:
            out[name] = np.ones(shape) if name.endswith("gamma") else np.zeros(shape)
    return out


def check_train_dtype(entry: ModelEntry, dtype: str) -> None:
    """A ValueError naming ``--dtype`` and the model unless ``entry``'s twins train in ``dtype`` (``TRAIN_DTYPES``)."""
    if dtype not in TRAIN_DTYPES:
        raise ValueError(f"Expected --dtype to be one of {', '.join(TRAIN_DTYPES)}. Received: {dtype!r}")
    if dtype in MIXED and not entry.supports(MIXED[dtype]):
        families = " and ".join(twinmem.entry.LOW_PRECISION_FAMILIES)  # read now: the list grows
        raise ValueError(
            f"--dtype {dtype} is not supported for model {entry.name!r}: its {entry.family} twins have no "
            f"{MIXED[dtype]} precision rules (mixed precision trains the {families} families); "
            "use --dtype float32"
        )


def train_twin(
    framework: str,
    entry: ModelEntry,
    config: Any,
    weights: Weights,
    task: Task,
    budget: Budget,
    seed: int,
    dtype: str = "float32",
    loss_scale: LossScale | None = None,
    on_step: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Train one twin.

    Returns its losses and pre-clipping gradient norms per step (None on a step skipped for non-finite
    gradients), the task's held-out measure (under the measure's name), wall time and final weights
    (float32). ``dtype``: one of ``TRAIN_DTYPES``; in mixed precision the held-out measure is the
    16-bit twin's (the model as it computes), and ``loss_scale`` (mixed_float16 only; default
    ``LOSS_SCALE``) adds the scale's record under "loss_scale". ``on_step``: called after every step
    (a progress bar).
    """
    check_train_dtype(entry, dtype)
    train = __import__(f"{framework}_impl.train", fromlist=["make_optimizer"])
    master = entry.build(framework, config, "float32", weights)  # what the optimizer updates and what is saved
    model = entry.build(framework, config, MIXED[dtype]) if dtype in MIXED else master  # what computes
    inputs = task.model_inputs.get(entry.name, task.inputs)
    optimizer = train.make_optimizer(master, budget.learning_rate)
    schedule = (loss_scale or LOSS_SCALE) if dtype == "mixed_float16" else None
    scaler = None if schedule is None else train.make_loss_scaler(optimizer, schedule.initial, schedule.growth_interval)
    if budget.linear_start_steps:
        model.linear_start = True
    step = train.make_train_step(model, optimizer, task.loss, inputs, budget.clip_norm, master, scaler)
    drops = dict(budget.learning_rate_drops)
    losses, grad_norms, scales = [], [], []
    seen: set[bytes] = set()
    bookkeeping = 0.0  # the held-out rows' bookkeeping, kept out of the wall time
    start = time.perf_counter()
    for s in range(budget.steps):
        if s in drops:
            train.set_learning_rate(optimizer, drops[s])
        if s == budget.linear_start_steps > 0:
            model.linear_start = False
            # A new step: TF's tf.function read the attribute when it was traced (the optimizer, and
            # with it Adam's moments, carries over).
            step = train.make_train_step(model, optimizer, task.loss, inputs, budget.clip_norm, master, scaler)
        batch = task.batch(budget.batch_size, seed=batch_seed(seed, s))
        loss, grad_norm = step(batch)
        losses.append(loss)
        grad_norms.append(grad_norm if np.isfinite(grad_norm) else None)  # JSON has no inf or NaN
        if scaler is not None:
            scales.append(train.loss_scale(scaler))  # the scale after step s
        t0 = time.perf_counter()
        seen.update(row_keys(batch))
        if on_step is not None:
            on_step()
        bookkeeping += time.perf_counter() - t0
    wall = time.perf_counter() - start - bookkeeping
    if model is not master:
        train.copy_weights(master, model)  # the last update's masters, rounded as a step would
    held_out = unseen_rows(task.batch(HELD_OUT_ROWS, seed=np.random.SeedSequence(EVAL_SEED)), seen)
    result = {
        "losses": losses,
        "grad_norms": grad_norms,
        task.measure: train.MEASURES[task.measure](model, held_out, inputs),
        "held_out_rows": len(next(iter(held_out.values()))),
        "wall_s": wall,
        "weights": master.export_canonical(),
    }
    if schedule is not None:
        result["loss_scale"] = scale_record(schedule, scales)
    return result


# What both twins' loss scaling must agree on (the scale's record of a mixed_float16 run).
SCALE_EVENTS = ("skipped_steps", "grown_at_steps", "final")


def scale_record(schedule: LossScale, scales: list[float]) -> dict[str, Any]:
    """The loss scale's story from the scale after each step: a step that halved it was skipped (the
    only way the scale falls), one that doubled it completed ``growth_interval`` finite steps."""
    before = [schedule.initial, *scales[:-1]]
    return {
        **asdict(schedule),
        "growth_factor": 2.0,
        "backoff_factor": 0.5,
        "final": scales[-1] if scales else schedule.initial,
        "skipped_steps": [s + 1 for s, (a, b) in enumerate(zip(before, scales, strict=True)) if b < a],
        "grown_at_steps": [s + 1 for s, (a, b) in enumerate(zip(before, scales, strict=True)) if b > a],
    }


def format_measure(name: str, value: float) -> str:
    """``accuracy 99.1%`` for the accuracies, ``bit_errors 0.012`` (per sequence) for the NTM's copy."""
    return f"accuracy {value:.1%}" if name.endswith("accuracy") else f"{name} {value:.3f}"


def plot_curves(path: Path, curves: Mapping[str, list[float]], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for label, losses in curves.items():
        ax.plot(np.arange(1, len(losses) + 1), losses, label=label, linewidth=1)
    ax.set(xlabel="step", ylabel="loss", yscale="log", title=title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("train", help="train a twin (or both) on a synthetic memory task")
    p.add_argument("--model", default="tiny_gpt", help="a registry name with a config for the task")
    p.add_argument(
        "--task",
        choices=sorted(TASKS),
        help="the synthetic task (default: babi1 for memn2n, copy for ntm, recall otherwise)",
    )
    p.add_argument("--framework", choices=["tf", "torch", "both"], default="both")
    p.add_argument("--steps", type=int, help="Adam steps (default: the task's budget for the model)")
    p.add_argument("--seed", type=int, default=0, help="seed of the initial weights and of the batches")
    p.add_argument(
        "--dtype",
        choices=TRAIN_DTYPES,
        default="float32",
        help="float32, or mixed precision: float32 master weights, bfloat16 / float16 compute (float16 with "
        "dynamic loss scaling); the attention, transformer and memory families",
    )
    p.add_argument("--out", metavar="DIR", default="train-results", help="where the JSON, PNG and weights go")
    p.set_defaults(func=cmd_train)
    return p


@contextlib.contextmanager
def claimed(out: Path) -> Iterator[None]:
    """One run at a time in ``out``: a lock file made with O_EXCL, removed when the run ends."""
    lock = out / ".twinmem-train.lock"
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        raise ValueError(
            f"--out {str(out)!r} is in use by another `twinmem train` run ({lock.read_text().strip() or '?'}); "
            f"if none is running, delete {str(lock)!r}"
        ) from None
    with os.fdopen(fd, "w") as f:
        f.write(f"pid {os.getpid()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}")
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


def commit(staged: Mapping[Path, Path]) -> None:
    """Rename every staged file over its final name with Ctrl-C held back: a run's files land together."""
    held = hasattr(signal, "pthread_sigmask")
    if held:
        old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        for tmp, final in staged.items():
            os.replace(tmp, final)
    finally:
        if held:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)


def cmd_train(args: argparse.Namespace) -> int:

    if args.task is None:
        args.task = DEFAULT_TASKS.get(args.model, "recall")
    task = TASKS[args.task]
    entry = registry.get(args.model)
    if args.model not in task.configs:
        raise ValueError(
            f"Task {args.task!r} has no config for model {args.model!r}; it has: {', '.join(task.configs)}"
        )
    check_train_dtype(entry, args.dtype)
    config = entry.make_config(**task.configs[args.model])
    budget = task.budgets.get(args.model, Budget())
    if args.steps is not None:
        if args.steps < 1:
            raise ValueError(f"Expected --steps >= 1. Received: {args.steps}")
        budget = replace(budget, steps=args.steps)
    frameworks = ["tf", "torch"] if args.framework == "both" else [args.framework]
    for fw in frameworks:
        if unavailable(fw):
            raise ValueError(unavailable(fw))
    pin_threads(1)  # one core each, as the benchmarks: the wall times compare like with like
    weights = initial_weights(entry.weight_shapes(config), args.seed)
    n_params = sum(int(np.prod(w.shape)) for w in weights.values())
    print(
        f"{args.model} on {args.task}: {n_params} parameters, {budget.steps} steps of {budget.batch_size} rows, "
        f"{args.dtype}"
    )
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"Expected --out to be a directory. Received: {str(out)!r}, a file")
    out.mkdir(parents=True, exist_ok=True)
    if not os.access(out, os.W_OK):
        raise ValueError(f"--out {str(out)!r} is not writable")
    with claimed(out):
        return run_and_write(args, entry, config, weights, task, budget, frameworks, n_params, out)


def run_and_write(
    args: argparse.Namespace,
    entry: ModelEntry,
    config: Any,
    weights: Weights,
    task: Task,
    budget: Budget,
    frameworks: list[str],
    n_params: int,
    out: Path,
) -> int:
    """Train, stage every output under a temporary name, then rename them all at once (``commit``):
    an interrupted or failed run leaves the previous complete results, never a mix of two runs."""
    # A mixed-precision run's files sit beside the float32 run's, not over them.
    stem = f"{args.model}_{args.task}" + ("" if args.dtype == "float32" else f"_{args.dtype}")
    run_id = f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"
    staged: dict[Path, Path] = {}

    def stage(name: str) -> Path:
        tmp = out / f".{run_id}.{name}"  # hidden, and the extension kept (savefig reads it)
        staged[tmp] = out / name
        return tmp

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    try:
        results = {}
        for fw in frameworks:
            # On a terminal only, and gone when the twin is done: its result line stays.
            with Progress(*columns, transient=True, disable=not sys.stdout.isatty()) as progress:
                advance = partial(progress.advance, progress.add_task(f"{fw} {args.dtype}", total=budget.steps))
                r = train_twin(fw, entry, config, weights, task, budget, args.seed, args.dtype, on_step=advance)
            results[fw] = r
            save_weights(stage(f"{stem}_{fw}.safetensors"), r.pop("weights"), args.model, config)
            measure = format_measure(task.measure, r[task.measure])
            print(
                f"{fw:6s} final loss {r['losses'][-1]:.4f}  {measure} on {r['held_out_rows']} unseen rows  "
                f"({r['wall_s']:.1f} s)"
            )
            if "loss_scale" in r:
                ls = r["loss_scale"]
                print(
                    f"       loss scale {ls['initial']:g} -> {ls['final']:g}: {len(ls['skipped_steps'])} steps "
                    f"skipped {ls['skipped_steps'][:10]}{' ...' if len(ls['skipped_steps']) > 10 else ''}, "
                    f"grown at {ls['grown_at_steps'][:10]}"
                )
        summary = summarize(args, config, budget, n_params, results, run_id, task.measure)
        summary["files"] = sorted(final.name for final in staged.values()) + [f"{stem}.json", f"{stem}.png"]
        stage(f"{stem}.json").write_text(json.dumps(summary, indent=1))
        curves = {fw: r["losses"] for fw, r in results.items()}
        title = f"{args.model} on {args.task}" + ("" if args.dtype == "float32" else f", {args.dtype}")
        plot_curves(stage(f"{stem}.png"), curves, title)
        commit(staged)
    finally:
        for tmp in staged:
            tmp.unlink(missing_ok=True)
    for fw in set(registry.FRAMEWORKS) - set(frameworks):
        stale = out / f"{stem}_{fw}.safetensors"
        if stale.exists():  # a user's earlier result: kept, and said not to be this run's
            print(f"note: {stale} is from an earlier run, not this one ({stem}.json lists this run's files)")
    print(f"wrote {out / stem}.json, .png and the trained weights (*.safetensors), run {run_id}")
    return 0


def summarize(
    args: argparse.Namespace,
    config: Any,
    budget: Budget,
    n_params: int,
    results: dict[str, Any],
    run_id: str,
    measure: str,
) -> dict[str, Any]:
    summary = {
        "run_id": run_id,
        "model": args.model,
        "task": args.task,
        "measure": measure,
        "seed": args.seed,
        "dtype": args.dtype,  # float32, or mixed_*: float32 masters (the saved weights), 16-bit compute
        "parameters": n_params,
        "config": asdict(config),
        "budget": asdict(budget),
        **results,
    }
    if len(results) == 2:
        drift = np.abs(np.asarray(results["tf"]["losses"]) - np.asarray(results["torch"]["losses"]))
        summary["drift"] = {"max": float(drift.max()), "step_of_max": int(drift.argmax()) + 1}
        in_u = "" if args.dtype not in MIXED else f" = {drift.max() / UNIT_ROUNDOFF[MIXED[args.dtype]]:.3g} u"
        print(f"loss drift: max |loss_tf - loss_torch| = {drift.max():.3e}{in_u} (at step {drift.argmax() + 1})")
        if "loss_scale" in results["tf"]:
            same = all(results["tf"]["loss_scale"][k] == results["torch"]["loss_scale"][k] for k in SCALE_EVENTS)
            summary["drift"]["loss_scale_same"] = same
            verdict = "the same" if same else "DIFFERENT"
            print(f"loss scale: {verdict} skipped steps, growths and final scale in both twins")
    return summary
