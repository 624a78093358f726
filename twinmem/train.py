"""`twinmem train`: train a twin (or both, side by side) on a synthetic memory task.

Both twins start from the same canonical initial weights, see the same batches in the same order
and take Adam steps with the same hyper-parameters (``{tf,torch}_impl/train.py``), so their loss
curves should coincide up to float32 rounding; ``--framework both`` prints how far they drift and
each twin's answer accuracy on held-out rows.

A task is a ``Task``: a batch generator, the names of the arrays the model reads, a loss by name
(``LOSSES`` in the framework train modules) and, per model, the config sized for the task and the
optimisation budget. Adding a (model, task) pair is one entry in ``TASKS``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from twinmem.tasks.recall import recall_task, recall_vocab_size
from twinmem.weights import Shapes, Weights


@dataclass(frozen=True)
class Budget:
    steps: int = 1000  # Adam steps
    batch_size: int = 64  # rows per step
    learning_rate: float = 1e-3


@dataclass(frozen=True)
class Task:
    batch: Callable[..., dict[str, np.ndarray]]  # (batch size, seed) -> arrays
    inputs: tuple[str, ...]  # the arrays the model takes, in order
    loss: str  # a key of LOSSES in tf_impl/train.py and torch_impl/train.py
    configs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # model -> config overrides
    budgets: Mapping[str, Budget] = field(default_factory=dict)  # model -> default budget


# 4 pairs over 8 keys and 8 values: T = 10 tokens, V = 17; chance is 1/8.
_RECALL = dict(num_pairs=4, num_keys=8, num_values=8)
_RECALL_V = recall_vocab_size(_RECALL["num_keys"], _RECALL["num_values"])

TASKS = {
    "recall": Task(
        batch=partial(recall_task, **_RECALL),
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
        },
        budgets={"tiny_gpt": Budget(), "lstm_language_model": Budget()},
    ),
}

EVAL_SEED = 1_000_003  # held-out rows: training batches use seeds seed * 100_000 + step, far below


def initial_weights(shapes: Shapes, seed: int) -> Weights:
    """Canonical initial weights for training, the same for both twins.

    Kernels (2-D) N(0, 1/fan_in), LayerNorm gains (names ending ``gamma``) one, other vectors
    (biases, shifts) zero: the parity harness's weights (``twinmem.weights.random_weights``) put
    noise on vectors to catch a missing bias, which is no way to start training.
    """
    rng = np.random.default_rng(seed)
    out: Weights = {}
    for name, shape in shapes.items():
        if len(shape) >= 2:
            out[name] = rng.standard_normal(shape) / np.sqrt(shape[0])
        else:
            out[name] = np.ones(shape) if name.endswith("gamma") else np.zeros(shape)
    return out


def train_twin(
    framework: str, entry, config, weights: Weights, task: Task, budget: Budget, seed: int
) -> dict[str, Any]:
    """Train one twin; returns its losses per step, held-out accuracy, wall time and final weights."""
    train = __import__(f"{framework}_impl.train", fromlist=["make_optimizer"])
    model = entry.build(framework, config, "float32", weights)
    optimizer = train.make_optimizer(model, budget.learning_rate)
    step = train.make_train_step(model, optimizer, task.loss, task.inputs)
    losses = []
    start = time.perf_counter()
    for s in range(budget.steps):
        losses.append(step(task.batch(budget.batch_size, seed=seed * 100_000 + s)))
    wall = time.perf_counter() - start
    held_out = task.batch(2000, seed=EVAL_SEED)
    return {
        "losses": losses,
        "accuracy": train.answer_accuracy(model, held_out, task.inputs),
        "wall_s": wall,
        "weights": model.export_canonical(),
    }


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


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("train", help="train a twin (or both) on a synthetic memory task")
    p.add_argument("--model", default="tiny_gpt", help="a registry name with a config for the task")
    p.add_argument("--task", default="recall", choices=sorted(TASKS))
    p.add_argument("--framework", choices=["tf", "torch", "both"], default="both")
    p.add_argument("--steps", type=int, help="Adam steps (default: the task's budget for the model)")
    p.add_argument("--seed", type=int, default=0, help="seed of the initial weights and of the batches")
    p.add_argument("--out", metavar="DIR", default="train-results", help="where the JSON, PNG and weights go")
    p.set_defaults(func=cmd_train)
    return p


def cmd_train(args: argparse.Namespace) -> int:
    from twinmem import registry
    from twinmem.frameworks import pin_threads, unavailable
    from twinmem.weights import save_weights

    task = TASKS[args.task]
    entry = registry.get(args.model)
    if args.model not in task.configs:
        raise ValueError(
            f"Task {args.task!r} has no config for model {args.model!r}; it has: {', '.join(task.configs)}"
        )
    config = entry.make_config(**task.configs[args.model])
    budget = task.budgets.get(args.model, Budget())
    if args.steps is not None:
        if args.steps < 1:
            raise ValueError(f"Expected --steps >= 1. Received: {args.steps}")
        budget = Budget(args.steps, budget.batch_size, budget.learning_rate)
    frameworks = ["tf", "torch"] if args.framework == "both" else [args.framework]
    for fw in frameworks:
        if unavailable(fw):
            raise ValueError(unavailable(fw))
    pin_threads(1)  # one core each, as the benchmarks: the wall times compare like with like
    weights = initial_weights(entry.weight_shapes(config), args.seed)
    n_params = sum(int(np.prod(w.shape)) for w in weights.values())
    print(f"{args.model} on {args.task}: {n_params} parameters, {budget.steps} steps of {budget.batch_size} rows")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{args.model}_{args.task}"
    results = {}
    for fw in frameworks:
        results[fw] = r = train_twin(fw, entry, config, weights, task, budget, args.seed)
        save_weights(out / f"{stem}_{fw}.safetensors", r.pop("weights"), args.model, config)
        print(f"{fw:6s} final loss {r['losses'][-1]:.4f}  accuracy {r['accuracy']:.1%}  ({r['wall_s']:.1f} s)")
    summary = {
        "model": args.model,
        "task": args.task,
        "seed": args.seed,
        "parameters": n_params,
        "config": asdict(config),
        "budget": asdict(budget),
        **results,
    }
    if len(results) == 2:
        drift = np.abs(np.asarray(results["tf"]["losses"]) - np.asarray(results["torch"]["losses"]))
        summary["drift"] = {"max": float(drift.max()), "step_of_max": int(drift.argmax()) + 1}
        print(f"loss drift: max |loss_tf - loss_torch| = {drift.max():.3e} (at step {drift.argmax() + 1})")
    with open(out / f"{stem}.json", "w") as f:
        json.dump(summary, f, indent=1)
    plot_curves(out / f"{stem}.png", {fw: r["losses"] for fw, r in results.items()}, f"{args.model} on {args.task}")
    print(f"wrote {out / stem}.json, .png and the trained weights (*.safetensors)")
    return 0
