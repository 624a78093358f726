"""The study's figures (matplotlib, Agg): every curve in TF (solid) and torch (dashed), chance drawn."""

from __future__ import annotations

import io
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


def _band(
    ax: Any, xs: list[int], per_x: list[list[float]], label: str, fw: str, color: Any, width: float = 1.2
) -> None:
    """Mean over seeds as a line, the range (min to max) as a band where there is more than one seed."""
    mean = [float(np.mean(v)) for v in per_x]
    ax.plot(
        xs,
        mean,
        STYLE[fw],
        marker=MARK[fw],
        color=color,
        label=f"{label} ({fw})",
        linewidth=width,
        markersize=2 + width,
    )
    if any(len(v) > 1 for v in per_x):
        ax.fill_between(xs, [min(v) for v in per_x], [max(v) for v in per_x], color=color, alpha=0.15)


def write_png(fig: Any, path: Path, dpi: int) -> None:
    """The figure as a PNG of at most 128 colours (a third of the bytes of a full-colour one, the same to the eye)."""
    from PIL import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=dpi, format="png")
    _pyplot().close(fig)
    buffer.seek(0)
    with Image.open(buffer) as image:
        image.convert("RGB").quantize(128).save(path, optimize=True)


def _save(fig: Any, path: Path) -> None:
    fig.tight_layout()
    write_png(fig, path, 90)


def plot_capacity(path: Path, records: results.Records, config: StudyConfig) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for i, (mech, by_fw) in enumerate(sorted(results.capacity(records).items())):
        for fw, points in by_fw.items():
            xs = sorted(points)
            # Thinner lines for later mechanisms: two curves that coincide (at 100 %) both show.
            _band(ax, xs, [points[x] for x in xs], mech, fw, f"C{i}", 3.0 - 0.45 * i)
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
            label = f"{mech}, {len(seeds)} seed(s)"
            _band(ax, xs, [[s[d - 1] for s in seeds] for d in xs], label, fw, f"C{i}", 3.0 - 0.45 * i)
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
            seeds = len(errors[xs[0]])
            label = "NTM" if mech == "ntm" else "LSTM (NTM controller, no memory)"
            _band(ax, xs, [errors[x] for x in xs], f"{label}, {seeds} seed(s)", fw, f"C{i}")
    lens = list(config.copy_test_lens)
    ax.plot(lens, [COPY_BITS * n / 2 for n in lens], ":", color="grey", label="chance (half the bits wrong)")
    ax.axvline(config.copy_train_len, color="black", linewidth=0.6, linestyle="-.", label="longest in training")
    ax.set(xlabel="sequence length", ylabel="bit errors per sequence", yscale="symlog", xticks=lens)
    ax.set_ylim(bottom=0)
    ax.set_title(f"Copy: trained on lengths 1-{config.copy_train_len}, tested longer (mean, range over seeds)")
    ax.legend(fontsize=7)
    _save(fig, path)


def plot_babi(path: Path, records: results.Records) -> None:
    plt = _pyplot()
    errors = results.babi_errors(records)
    tasks = sorted(errors)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    xs = np.arange(len(tasks))
    seeds = max(len(v) for per_fw in errors.values() for v in per_fw.values())
    for j, fw in enumerate(("tf", "torch")):
        per_task = [errors[t].get(fw, [np.nan]) for t in tasks]
        mean = [float(np.mean(v)) for v in per_task]
        spread = [[m - min(v) for m, v in zip(mean, per_task, strict=True)]]
        spread += [[max(v) - m for m, v in zip(mean, per_task, strict=True)]]
        ax.bar(xs + (j - 1) * 0.27, mean, 0.27, yerr=spread if seeds > 1 else None, capsize=2, label=f"ours ({fw})")
    ax.bar(xs + 0.27, [PAPER_ERROR.get(t, np.nan) for t in tasks], 0.27, label="paper (1k, PE LS RN)", color="grey")

    for x, t in zip(xs, tasks, strict=True):
        ax.hlines(100 * (1 - BABI_CHANCE[t]), x - 0.45, x + 0.45, colors="black", linestyles=":")
    ax.plot([], [], ":", color="black", label="chance")
    title = "MemN2N on bAbI: our twins and the paper"
    ax.set(
        xticks=xs, ylabel="test error (%)", title=title + (f" (mean, range over {seeds} seeds)" if seeds > 1 else "")
    )
    ax.set_xticklabels([f"task {t}" for t in tasks])
    ax.set_ylim(0, 100)
    ax.legend(fontsize=7, ncol=4, loc="upper center")  # above the highest chance line (83 %)
    _save(fig, path)


def _ticks(ax: Any, axis: str, labels: list[str] | None) -> None:
    """Every position named (a token, a memory slot), small."""
    if not labels:
        return
    where = list(range(len(labels)))
    if axis == "x":
        ax.set_xticks(where, labels, rotation=90, fontsize=6)
    else:
        ax.set_yticks(where, labels, fontsize=6)


def plot_looks(path: Path, mechanism: str, look: Mapping[str, Any]) -> None:
    """One held-out row's read-out, TF's beside torch's, the max difference under the figure.

    tiny_gpt: the last position's attention weights, a row per layer and head; MemN2N, KV-MemNN: the
    weight of each memory slot in each hop; the NTM: its read and write weightings per step; the
    LSTM: its input, forget and output gates, a row per unit (sorted by the first twin's mean forget
    gate, one order for every panel), a column per step.
    """
    plt = _pyplot()
    fws = list(look["maps"])
    names = list(look["maps"][fws[0]])
    row = look.get("row", {})
    positions, slots = row.get("positions"), row.get("slots")
    order = None
    if mechanism == "lstm_language_model":
        order = np.argsort(np.asarray(look["maps"][fws[0]]["forget_gate"]).mean(axis=0))
    fig, axes = plt.subplots(len(names), len(fws), figsize=(4.0 * len(fws), 2.7 * len(names)), squeeze=False)
    for i, name in enumerate(names):
        # One colour scale per row, so that TF's panel and torch's read alike; gates on [0, 1].
        vmax = 1.0 if order is not None else max(max(float(np.max(look["maps"][fw][name])) for fw in fws), 1e-9)
        for j, fw in enumerate(fws):
            ax = axes[i, j]
            m = np.asarray(look["maps"][fw][name])
            if mechanism == "tiny_gpt":  # (layers, heads, T, T): the last position's weights, a row per head
                layers, heads = m.shape[:2]
                m = m[:, :, -1, :].reshape(-1, m.shape[-1])
                ax.set_ylabel("layer.head", fontsize=7)
                ax.set_xlabel("position read by the last token", fontsize=7)
                _ticks(ax, "x", positions)
                _ticks(ax, "y", [f"{a}.{b}" for a in range(layers) for b in range(heads)])
            elif mechanism in ("memn2n", "kv_memory_network"):  # (hops, M)
                ax.set_ylabel("hop", fontsize=7)
                ax.set_xlabel("memory slot (0 = the last pair): its key and value", fontsize=7)
                _ticks(ax, "x", slots)
                _ticks(ax, "y", [str(h + 1) for h in range(m.shape[0])])
            elif order is not None:  # an LSTM gate (T, H): units down, steps across
                m = m[:, order].T
                ax.set_ylabel("unit (by mean forget gate)", fontsize=7)
                ax.set_xlabel("step (the token read)", fontsize=7)
                _ticks(ax, "x", positions)
            else:  # the NTM (T, N)
                ax.set_ylabel("step (the token read)", fontsize=7)
                ax.set_xlabel("memory slot", fontsize=7)
                _ticks(ax, "y", positions)
            image = ax.imshow(m, aspect="auto", cmap="viridis", vmin=0, vmax=vmax, interpolation="nearest")
            ax.set_title(f"{name} ({fw})", fontsize=8)
            ax.tick_params(labelsize=6)
        fig.colorbar(image, ax=axes[i, -1], fraction=0.05, pad=0.02).ax.tick_params(labelsize=6)
    own, same = look["max_diff_own_weights"], look["max_diff_same_weights"]
    note = (
        f"max |TF - torch|: {same:.2e} on the same weights, {own:.2e} with each twin's own trained weights"
        if own is not None
        else "one framework only"
    )
    fig.text(0.5, 0.005, note, ha="center", fontsize=8)
    what = "gates over time" if order is not None else "where it reads"
    asked = f": query {row['query']} -> {row['answer']}, {row['distance']} pair(s) back" if "query" in row else ""
    fig.suptitle(f"{mechanism}, {what}, one held-out row{asked}", fontsize=9)
    fig.tight_layout(rect=(0, 0.03, 1, 0.97))
    write_png(fig, path, 75)


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
