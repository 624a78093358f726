"""The study's figures (matplotlib, Agg): every curve in TF (solid) and torch (dashed), chance drawn."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from twinmem.study import results
from twinmem.study.config import StudyConfig
from twinmem.study.tasks import BABI_CHANCE, COPY_BITS, PAPER_ERROR

STYLE = {"tf": "-", "torch": "--"}
MARK = {"tf": "o", "torch": "x"}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _band(ax: Any, xs: list[int], per_x: list[list[float]], label: str, fw: str, color: Any) -> None:
    """Mean over seeds as a line, the range (min to max) as a band where there is more than one seed."""
    mean = [float(np.mean(v)) for v in per_x]
    ax.plot(xs, mean, STYLE[fw], marker=MARK[fw], color=color, label=f"{label} ({fw})", linewidth=1.2)
    if any(len(v) > 1 for v in per_x):
        ax.fill_between(xs, [min(v) for v in per_x], [max(v) for v in per_x], color=color, alpha=0.15)


def _save(fig: Any, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    _pyplot().close(fig)


def plot_capacity(path: Path, records: results.Records, config: StudyConfig) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for i, (mech, by_fw) in enumerate(sorted(results.capacity(records).items())):
        for fw, points in by_fw.items():
            xs = sorted(points)
            _band(ax, xs, [points[x] for x in xs], mech, fw, f"C{i}")
    ax.axhline(1 / config.num_values, color="grey", linestyle=":", label="chance")
    ax.axhline(0.95, color="black", linewidth=0.6, linestyle="-.", label="95 % (capacity)")
    ax.set(xscale="log", xlabel="stored pairs", ylabel="held-out recall accuracy", ylim=(0, 1.02))
    ax.minorticks_off()
    ax.set_xticks(list(config.pairs), [str(p) for p in config.pairs])
    ax.set_title("Capacity: recall accuracy against load (mean, range over seeds)")
    ax.legend(fontsize=7, ncol=2)
    _save(fig, path)


def plot_persistence(path: Path, records: results.Records, config: StudyConfig) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for i, (mech, by_fw) in enumerate(sorted(results.persistence(records, config).items())):
        for fw, seeds in by_fw.items():
            xs = list(range(1, config.persistence_load + 1))
            _band(ax, xs, [[s[d - 1] for s in seeds] for d in xs], f"{mech}, {len(seeds)} seed(s)", fw, f"C{i}")
    ax.axhline(1 / config.num_values, color="grey", linestyle=":", label="chance")
    ax.set(xlabel="distance: pairs from the queried pair to the query (1 = the last)", ylabel="held-out accuracy")
    ax.set(ylim=(0, 1.02), title=f"Persistence at {config.persistence_load} stored pairs")
    ax.legend(fontsize=7, ncol=2)
    _save(fig, path)


def plot_length(path: Path, records: results.Records, config: StudyConfig) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for i, (mech, by_fw) in enumerate(sorted(results.length(records).items())):
        for fw, errors in by_fw.items():
            xs = sorted(errors)
            label = "NTM" if mech == "ntm" else "LSTM (NTM controller, no memory)"
            ax.plot(xs, [errors[x] for x in xs], STYLE[fw], marker=MARK[fw], color=f"C{i}", label=f"{label} ({fw})")
    lens = list(config.copy_test_lens)
    ax.plot(lens, [COPY_BITS * n / 2 for n in lens], ":", color="grey", label="chance (half the bits wrong)")
    ax.axvline(config.copy_train_len, color="black", linewidth=0.6, linestyle="-.", label="longest in training")
    ax.set(xlabel="sequence length", ylabel="bit errors per sequence", yscale="symlog", xticks=lens)
    ax.set_ylim(bottom=0)
    ax.set_title(f"Copy: trained on lengths 1-{config.copy_train_len}, tested longer")
    ax.legend(fontsize=7)
    _save(fig, path)


def plot_babi(path: Path, records: results.Records) -> None:
    plt = _pyplot()
    errors = results.babi_errors(records)
    tasks = sorted(errors)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    xs = np.arange(len(tasks))
    for j, fw in enumerate(("tf", "torch")):
        ax.bar(xs + (j - 1) * 0.27, [errors[t].get(fw, np.nan) for t in tasks], 0.27, label=f"ours ({fw})")
    ax.bar(xs + 0.27, [PAPER_ERROR.get(t, np.nan) for t in tasks], 0.27, label="paper (1k, PE LS RN)", color="grey")

    for x, t in zip(xs, tasks, strict=True):
        ax.hlines(100 * (1 - BABI_CHANCE[t]), x - 0.45, x + 0.45, colors="black", linestyles=":")
    ax.plot([], [], ":", color="black", label="chance")
    ax.set(xticks=xs, ylabel="test error (%)", title="MemN2N on bAbI: our twins and the paper")
    ax.set_xticklabels([f"task {t}" for t in tasks])
    ax.legend(fontsize=7)
    _save(fig, path)


def plot_looks(path: Path, mechanism: str, look: Mapping[str, Any]) -> None:
    """The read weights of one held-out row, TF's beside torch's, the max difference under the figure."""
    plt = _pyplot()
    fws = list(look["maps"])
    names = list(look["maps"][fws[0]])
    fig, axes = plt.subplots(len(names), len(fws), figsize=(3.6 * len(fws), 2.8 * len(names)), squeeze=False)
    for i, name in enumerate(names):
        for j, fw in enumerate(fws):
            m = np.asarray(look["maps"][fw][name])
            if mechanism == "tiny_gpt":  # (layers, heads, T, T): the last position's weights, a row per head
                m = m[:, :, -1, :].reshape(-1, m.shape[-1])
                ylabel, xlabel = "layer.head", "position read by the last token"
            elif mechanism == "memn2n":
                ylabel, xlabel = "hop", "memory slot (0 = last pair)"
            else:
                ylabel, xlabel = "step", "memory slot"
            axes[i, j].imshow(m, aspect="auto", cmap="viridis", vmin=0, vmax=max(float(m.max()), 1e-9))
            axes[i, j].set(title=f"{name} ({fw})", xlabel=xlabel, ylabel=ylabel)
    own, same = look["max_diff_own_weights"], look["max_diff_same_weights"]
    note = (
        f"max |TF - torch|: {same:.2e} on the same weights, {own:.2e} with each twin's own trained weights"
        if own is not None
        else "one framework only"
    )
    fig.text(0.5, 0.005, note, ha="center", fontsize=8)
    fig.suptitle(f"{mechanism}: where it reads, one held-out row", fontsize=10)
    fig.tight_layout(rect=(0, 0.04, 1, 0.97))
    fig.savefig(path, dpi=80)
    plt.close(fig)


def plot_all(out: Path, records: results.Records, config: StudyConfig) -> list[Path]:
    """Every figure the records allow, into ``out``; the paths written."""
    written = []
    figures = (
        ("capacity", plot_capacity, results.capacity(records)),
        ("persistence", plot_persistence, results.persistence(records, config)),
        ("length", plot_length, results.length(records)),
    )
    for name, fn, data in figures:
        if data:
            fn(out / f"{name}.png", records, config)
            written.append(out / f"{name}.png")
    if results.babi_errors(records):
        plot_babi(out / "babi.png", records)
        written.append(out / "babi.png")
    for mech, look in results.looks(records).items():
        path = out / f"looks_{mech}.png"
        plot_looks(path, mech, look)
        written.append(path)
    return written
