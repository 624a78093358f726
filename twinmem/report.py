"""Benchmark reports: pytest-benchmark JSON -> results.json (flat rows), report.md and PNG plots.

``results.json`` schema — one row per case:
    model, shape, family, framework, impl ("twin" or a built-in), mode (eager | graph | xla |
    compile), pass (forward | train | prefill | decode_cached | decode_uncached), device (cpu | gpu), threads, batch, seq_len, tokens,
    median_s, iqr_s, rounds, seq_per_s, tokens_per_s, gflop_per_s,
    dtype, efficiency (gflop_per_s / the ceiling: the fastest GEMM of that device and dtype in the same
    run, 0..1; above 1 the report says the ceiling is under-measured),
    peak_memory_bytes (GPU allocators' peak; null on CPU), compile_s (first call alone),
    kv_cache_bytes (generation cases: keys and values of every layer at that context, analytic),
    versions {python, numpy, torch, tensorflow, keras}, settings {threads, tf32, cudnn_benchmark}.
Rows of the "gemm" model are the machine's limit itself: each framework in its fastest mode, per
dtype, at the start and at the end of the run (the phase ends the shape label).
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from twinmem.files import write_text


def rows_from_benchmark(raw: dict) -> list[dict]:
    versions = raw.get("twinmem_versions", {})
    settings = raw.get("twinmem_settings", {})
    rows = []
    for b in raw["benchmarks"]:
        x, s = b["extra_info"], b["stats"]
        if "model" not in x:
            continue
        median = s["median"]
        dtype = x.get("dtype", "float32")
        # A twin timed in another dtype is another case of every table: its shape label says so (a GEMM's
        # label has its dtype already).
        shape = x["shape"] if dtype == "float32" or x["model"] == "gemm" else f"{x['shape']} {dtype}"
        rows.append(
            {
                "model": x["model"],
                "shape": shape,
                "family": x["family"],
                "framework": x["framework"],
                "impl": x["impl"],
                "mode": x["mode"],
                "pass": x["pass_"],
                "device": x["device"],
                "dtype": dtype,
                "threads": x["threads"],
                "batch": x["batch"],
                "seq_len": x["seq_len"],
                "tokens": x["tokens"],
                "median_s": median,
                "iqr_s": s["iqr"],
                "rounds": s["rounds"],
                "seq_per_s": x["batch"] / median,
                "tokens_per_s": x["tokens"] / median,
                "gflop_per_s": x["flops"] / median / 1e9,
                "efficiency": None,
                "peak_memory_bytes": x.get("peak_memory_bytes"),
                "compile_s": x["compile_s"],
                "kv_cache_bytes": x.get("kv_cache_bytes"),
                "versions": versions,
                "settings": settings,
            }
        )
    limits = ceilings(rows)
    for r in rows:
        if (r["device"], r["dtype"]) in limits:
            r["efficiency"] = r["gflop_per_s"] / limits[r["device"], r["dtype"]]["gflop_per_s"]
    return rows


# A 16-bit matrix product can always run on the float32 GEMM (its values are float32 values; the twins'
# core.matmul does exactly that), so the limit of a 16-bit dtype is the faster of its own GEMM and float32's.
# On a CPU without bfloat16 units the bfloat16 GEMM is emulated (63 GFLOP/s against float32's 269 here,
# on a host without AVX512_BF16): against it alone, the bf16 twins ran at 106 % of the "limit".
CARRIED_BY = {"bfloat16": ("float32",), "float16": ("float32",)}


def ceilings(rows: list[dict]) -> dict[tuple[str, str], dict]:
    """The machine's limit per (device, dtype): the fastest GEMM row of that dtype, or of a wider dtype
    that carries it exactly (``CARRIED_BY``), any framework, start or end of the run."""
    own: dict[tuple[str, str], dict] = {}
    for r in rows:
        k = (r["device"], r["dtype"])
        if r["model"] == "gemm" and (k not in own or r["gflop_per_s"] > own[k]["gflop_per_s"]):
            own[k] = r
    out = dict(own)
    for (device, dtype), r in own.items():
        for wider in CARRIED_BY.get(dtype, ()):
            w = own.get((device, wider))
            if w is not None and w["gflop_per_s"] > r["gflop_per_s"]:
                out[device, dtype] = w
    return out


def over_ceiling(rows: list[dict]) -> list[dict]:
    """Cases measured faster than the ceiling: impossible, so the ceiling was measured too low."""
    return sorted(
        (r for r in rows if r["model"] != "gemm" and r["efficiency"] is not None and r["efficiency"] > 1.0),
        key=lambda r: -r["efficiency"],
    )


def _eff(r: dict) -> str:
    if r["efficiency"] is None:
        return "–"
    return f"{100 * r['efficiency']:.1f} %" + (" ⚠" if r["efficiency"] > 1.0 else "")


def ceiling_section(rows: list[dict]) -> list[str]:
    """How the ceiling was measured: every GEMM row, the one used, and the drift between start and end."""
    gemm = [r for r in rows if r["model"] == "gemm"]
    if not gemm:
        return ["", "**No GEMM was measured in this run: there is no ceiling, and no efficiency.**"]
    used = ceilings(rows)
    lines = [
        "",
        "## The limit: GEMM ceiling",
        "",
        "One n³ matmul per framework in its fastest mode (TF inside `tf.function`, torch eager), per dtype, timed "
        "at the start and at the end of the run; the ceiling of a device and dtype is the fastest of these medians. "
        "`eff.` everywhere = a case's GFLOP/s / that ceiling.",
        "",
    ]

    def role(r: dict) -> str:
        of = [dtype for (device, dtype), u in used.items() if u is r and device == r["device"]]
        return "**ceiling**" + ("" if of == [r["dtype"]] else f" of {', '.join(of)}") if of else ""

    body = [
        [r["device"], r["dtype"], r["framework"], r["mode"], r["shape"], str(r["rounds"]), _ms(r["median_s"]),
         f"{100 * r['iqr_s'] / r['median_s']:.1f} %", f"{r['gflop_per_s']:.1f}", role(r)]
        for r in gemm
    ]  # fmt: skip
    lines += _table(["device", "dtype", "framework", "mode", "shape", "rounds", "median ms", "IQR / median",
                     "GFLOP/s", ""], body)  # fmt: skip
    drift = []
    for r in gemm:
        if r["shape"].endswith(" end"):
            start = next((s for s in gemm if s["shape"] == r["shape"][: -len("end")] + "start"
                          and s["framework"] == r["framework"] and s["device"] == r["device"]), None)  # fmt: skip
            if start:
                change = r["gflop_per_s"] / start["gflop_per_s"] - 1
                drift.append(f"{r['device']} {r['dtype']} {r['framework']} {100 * change:+.1f} %")
    if drift:
        lines += ["", "Drift of the GEMM from the start of the run to its end: " + ", ".join(drift) + "."]
    for (device, dtype), u in sorted(used.items()):
        if u["dtype"] != dtype:
            own = max((r["gflop_per_s"] for r in gemm if (r["device"], r["dtype"]) == (device, dtype)), default=0.0)
            lines += ["", f"**{device} {dtype}: its own GEMM ({own:.1f} GFLOP/s) is slower than the {u['dtype']} "
                      f"one ({u['gflop_per_s']:.1f})** — no fast {dtype} matmul on this {device} (on a CPU: no "
                      f"AVX512_BF16 or AMX). A {dtype} product can run on the {u['dtype']} GEMM exactly "
                      f"(the twins' 16-bit matmuls do), so {dtype} cases are measured against the {u['dtype']} "
                      "ceiling."]  # fmt: skip
    return lines


# The project's goal for each twin's fastest path against its framework's built-in (issue 16).
BUILTIN_GOAL = 1.10


def _latency_note(over: list[dict]) -> str:
    if not over:
        return ""
    lo, hi = (f"{1e3 * f(r['twin_s'] for r in over):.2g}" for f in (min, max))
    return (
        f" At batch 1 (`latency B1`) a call takes {lo if lo == hi else f'{lo}-{hi}'} ms, and the twin's fixed work per"
        " call shows: its input checks (an error that names the argument) and its mask handling (a NaN at a masked"
        " position has no influence; a query with no key, a sequence of no step give zeros), work the built-in"
        " leaves undone."
    )


def builtin_section(rows: list[dict], ab: list[dict]) -> list[str]:
    """Twin / built-in: from interleaved rounds (ab.json) where the run has them, else case after case."""
    lines = ["", "## Twin / built-in (fastest path and mode of each; > 1: the twin is slower)", ""]
    if not ab:
        return lines + [
            "Each pair timed one case after the other. On a shared machine that drifts within seconds, so one"
            " ratio is worth about ±0.3 here (a pair read 1.55 here, 1.10 interleaved in the same hour): the"
            " interleaved table of `make bench` or `make bench-ab` is the figure to quote.",
            "",
            *_table(["framework", "model", "shape", "device", "pass", "twin", "built-in", "twin / built-in"],
                    [[b["framework"], b["model"], b["shape"], b["device"], b["pass"], b["twin"], b["builtin"],
                      f"{b['ratio']:.2f}"] for b in builtin_rows(rows)]),
        ]  # fmt: skip
    sources = sorted({r.get("source", "make bench-ab") for r in ab})
    over = [r for r in ab if r["ratio"] > BUILTIN_GOAL]
    lines += [
        f"Timed interleaved ({', '.join(f'`{s}`' for s in sources)}): every candidate of a pair (the twin on each "
        "path and fast mode, the built-in in each fast mode) runs once per round, in turn, in one process, so a "
        "machine that slows down slows all of them alike. `± IQR` is the spread of the per-round ratio of the two "
        "fastest.",
        "",
        f"Above {BUILTIN_GOAL:.2f} (the goal for a twin's fastest path): "
        + (
            "; ".join(f"{r['framework']} {r['model']} {r['shape']} {r['pass']} **{r['ratio']:.2f}**" for r in over)
            if over
            else "none"
        )
        + f", of {len(ab)} pairs."
        + _latency_note([r for r in over if r["shape"].endswith("latency B1")]),
        "",
    ]
    body = [[r["framework"], r["model"], r["shape"], r.get("device", "cpu"), r["pass"], r["twin"], r["builtin"],
             f"{r['ratio']:.2f} ± {r['ratio_iqr']:.2f}", str(r["rounds"])] for r in ab]  # fmt: skip
    return lines + _table(
        ["framework", "model", "shape", "device", "pass", "twin", "built-in", "twin / built-in", "rounds"], body
    )


def warning_lines(rows: list[dict]) -> list[str]:
    """The loud line: a case above 100 % of the ceiling means the ceiling is wrong, not the case."""
    over = over_ceiling(rows)
    if not over:
        return []
    worst = over[0]
    return [
        "",
        f"> **⚠ The GEMM ceiling is under-measured: {len(over)} case(s) ran faster than it** (the fastest: "
        f"{worst['model']} {worst['shape']} {worst['framework']} {worst['impl']} {worst['mode']} {worst['pass']} at "
        f"{100 * worst['efficiency']:.1f} %). Nothing runs faster than the machine's limit, so every efficiency in "
        'this report is overstated; marked ⚠ below. See "The limit" for how the ceiling was measured.',
    ]


def path_free(shape: str) -> str:
    # A built-in ignores the twins' `path` and is timed under the first path's label only.
    for path in ("explicit ", "fused "):
        shape = shape.removeprefix(path)
    return shape


def builtin_rows(rows: list[dict]) -> list[dict]:
    """Per framework, model, shape, device, pass: the twin's fastest path and mode over the built-in's fastest."""
    groups: dict[tuple, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        if r["model"] != "gemm" and r["family"] != "generation":
            k = (r["framework"], r["model"], path_free(r["shape"]), r["device"], r["pass"])
            groups[k]["twin" if r["impl"] == "twin" else "builtin"].append(r)
    out = []
    for (framework, model, shape, device, pass_), g in sorted(groups.items()):
        if g["twin"] and g["builtin"]:
            twin = min(g["twin"], key=lambda r: r["median_s"])
            builtin = min(g["builtin"], key=lambda r: r["median_s"])
            path = twin["shape"].split()[0] if twin["shape"] != shape else ""
            out.append(
                {
                    "framework": framework, "model": model, "shape": shape, "device": device, "pass": pass_,
                    "twin": f"{path} {twin['mode']}".strip(), "builtin": f"{builtin['impl']} {builtin['mode']}",
                    "ratio": twin["median_s"] / builtin["median_s"],
                }
            )  # fmt: skip
    return out


VIEW_DIR = "../view"  # `twinmem view`'s default output, seen from a results directory at the repo root


def view_link(model: str, view_dir: str = VIEW_DIR) -> str:
    """A link from a model's section to its side-by-side page (`twinmem view`)."""
    return f"[the twins side by side, with their parity figures]({view_dir}/{model}.html)"


def _ms(s: float) -> str:
    return f"{s * 1e3:.3g}"


def _mem(b: int | None) -> str:
    return "–" if b is None else f"{b / 2**20:.1f}"


def _table(header: list[str], body: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in body]


def _key(r: dict) -> tuple:
    return (r["model"], r["shape"], r["device"], r["pass"])


def ratio_rows(rows: list[dict]) -> list[dict]:
    """Per (model, shape, device, pass): TF/torch time ratios of the twins and of the fastest of each."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        if r["model"] != "gemm":
            groups[_key(r)].append(r)
    out = []
    for (model, shape, device, pass_), rs in groups.items():
        twins = {(r["framework"], r["mode"]): r for r in rs if r["impl"] == "twin"}
        tf_rows = [r for r in rs if r["framework"] == "tf"]
        torch_rows = [r for r in rs if r["framework"] == "torch"]
        if not tf_rows or not torch_rows or ("tf", "eager") not in twins or ("torch", "eager") not in twins:
            continue
        best_tf, best_torch = min(tf_rows, key=lambda r: r["median_s"]), min(torch_rows, key=lambda r: r["median_s"])
        out.append(
            {
                "model": model,
                "shape": shape,
                "device": device,
                "pass": pass_,
                "eager": twins["tf", "eager"]["median_s"] / twins["torch", "eager"]["median_s"],
                "fastest": best_tf["median_s"] / best_torch["median_s"],
                "best_tf": f"{best_tf['impl']} {best_tf['mode']}",
                "best_torch": f"{best_torch['impl']} {best_torch['mode']}",
            }
        )
    return out


def render(rows: list[dict], raw: dict, skipped: list[dict]) -> str:
    mi = raw.get("machine_info", {})
    settings = raw.get("twinmem_settings", {})
    versions = raw.get("twinmem_versions", {})
    limits = ceilings(rows)
    lines = [
        "# twinmem benchmark report",
        "",
        f"- machine: {mi.get('cpu', {}).get('brand_raw', '?')}, {mi.get('cpu', {}).get('count', '?')} logical CPUs; "
        f"run {raw.get('datetime', '?')}",
        f"- versions: {', '.join(f'{k} {v}' for k, v in versions.items())}",
        f"- fairness: {settings.get('threads', '?')} intra-op threads for each framework (1 inter-op thread for TF); "
        f"TF32 {'on' if settings.get('tf32') else 'off'} for both; cudnn.benchmark {settings.get('cudnn_benchmark')}; "
        "the same weights and inputs for every implementation; GPU synchronised before every clock read",
        "- ceiling (the fastest GEMM of the run; see \"The limit\"): "
        + ", ".join(
            f"{d} {t} {r['gflop_per_s']:.1f} GFLOP/s ({r['framework']} {r['mode']}, {r['shape']})"
            for (d, t), r in limits.items()
        ),
        "- times are medians of steady-state rounds after warm-up; `first call` is the first call alone "
        "(tracing / compilation), never in the median. `train` = forward + gradients of every weight and floating "
        "input. GFLOP/s counts matmul FLOPs analytically (dense, train = 3 x forward); `eff.` = GFLOP/s / the GEMM "
        "limit. Peak memory is the GPU allocators' peak; on CPU it is not measured (a process's peak RSS is shared "
        "by every case of the run, so it says nothing per case).",
        "- `× torch` = this time / the torch twin's eager time for the same model, shape, pass and device (> 1 is "
        "slower). Built-ins are called without returning attention weights, so they may take fused kernels the "
        "twins (which return the weights) cannot.",
        *warning_lines(rows),
        *ceiling_section(rows),
        *builtin_section(rows, raw.get("_ab", [])),
        "",
        "## TF/torch time ratios (< 1: TensorFlow faster)",
        "",
    ]  # fmt: skip
    ratios = ratio_rows(rows)
    lines += _table(
        ["model", "shape", "device", "pass", "TF/torch twins, eager", "TF/torch, fastest of each", "fastest TF", "fastest torch"],
        [[r["model"], r["shape"], r["device"], r["pass"], f"{r['eager']:.2f}", f"{r['fastest']:.2f}", r["best_tf"], r["best_torch"]]
         for r in ratios],
    )  # fmt: skip
    lines += ["", "## Fastest implementation and mode per model", ""]
    best: dict[tuple, dict] = {}
    for r in rows:
        if r["model"] != "gemm" and (_key(r) not in best or r["median_s"] < best[_key(r)]["median_s"]):
            best[_key(r)] = r
    lines += _table(
        ["model", "shape", "device", "pass", "fastest", "median ms", "eff."],
        [[r["model"], r["shape"], r["device"], r["pass"], f"{r['framework']} {r['impl']} {r['mode']}", _ms(r["median_s"]),
          _eff(r)] for r in best.values()],
    )  # fmt: skip
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        groups[(r["family"], r["model"], r["shape"], r["device"])].append(r)
    for family in sorted({k[0] for k in groups}, key=lambda f: (f == "gemm", f)):
        lines += ["", f"## {family}"]
        for (fam, model, shape, device), rs in groups.items():
            if fam != family:
                continue
            lines += ["", f"### {model} — {shape} — {device}", "", view_link(model), ""]
            body = []
            for pass_ in ("forward", "train"):
                prs = [r for r in rs if r["pass"] == pass_]
                base = next(
                    (r for r in prs if r["framework"] == "torch" and r["impl"] == "twin" and r["mode"] == "eager"), None
                )
                for r in sorted(prs, key=lambda r: r["median_s"]):
                    body.append(
                        [pass_, r["framework"], r["impl"], r["mode"], _ms(r["median_s"]), _ms(r["iqr_s"]),
                         f"{r['seq_per_s']:.4g}", f"{r['tokens_per_s']:.4g}", f"{r['gflop_per_s']:.3g}",
                         _eff(r),
                         _mem(r["peak_memory_bytes"]), _ms(r["compile_s"]),
                         f"{r['median_s'] / base['median_s']:.2f}" if base else "–"]
                    )  # fmt: skip
            header = ["pass", "framework", "impl", "mode", "median ms", "IQR ms", "seq/s", "tokens/s", "GFLOP/s", "eff.",
                      "peak MiB", "first call ms", "× torch"]  # fmt: skip
            lines += _table(header, body)
    lines += generation_section(rows)
    if skipped:
        lines += ["", "## Skipped cases", ""] + _table(["case", "reason"], [[s["case"], s["reason"]] for s in skipped])
    plots = sorted(p.name for p in Path(raw.get("_dir", ".")).glob("*.png"))
    if plots:
        lines += ["", "## Plots", ""] + [f"![{p}]({p})" for p in plots]
    return "\n".join(lines) + "\n"


def _generation(rows: list[dict]) -> dict[tuple, dict[int, dict[str, dict]]]:
    """(shape without context, device, framework, mode) -> context -> pass -> row."""
    out: dict[tuple, dict[int, dict[str, dict]]] = defaultdict(lambda: defaultdict(dict))
    for r in rows:
        if r["family"] == "generation":
            label = r["shape"].rsplit(" ctx", 1)[0]
            out[(label, r["device"], r["framework"], r["mode"])][r["seq_len"]][r["pass"]] = r
    return out


def generation_section(rows: list[dict]) -> list[str]:
    gen = _generation(rows)
    if not gen:
        return []
    lines = [
        "",
        "## Generation with a key/value cache (tiny_gpt)",
        "",
        "Prefill: the forward over the whole context, writing the caches. Cached decode: one new token per "
        "sequence over caches holding the context. Uncached decode: the full forward over the context for one new "
        "token. KV cache: keys and values of every layer in float32 at that context (analytic); peak memory is "
        "measured on GPU only.",
        "",
    ]
    body = []
    for (label, device, framework, mode), by_ctx in sorted(gen.items()):
        for ctx, p in sorted(by_ctx.items()):
            pre, cached, uncached = p.get("prefill"), p.get("decode_cached"), p.get("decode_uncached")
            kv = next((r["kv_cache_bytes"] for r in p.values() if r.get("kv_cache_bytes")), None)
            body.append(
                [label, device, framework, mode, str(ctx),
                 f"{pre['tokens_per_s']:.4g}" if pre else "–",
                 _ms(cached["median_s"]) if cached else "–",
                 _ms(uncached["median_s"]) if uncached else "–",
                 f"{uncached['median_s'] / cached['median_s']:.1f}x" if cached and uncached else "–",
                 f"{cached['tokens_per_s']:.4g}" if cached else "–",
                 _mem(kv), _mem(cached.get("peak_memory_bytes") if cached else None)]
            )  # fmt: skip
    header = ["model", "device", "framework", "mode", "context", "prefill tokens/s", "cached ms/step",
              "uncached ms/step", "cache speed-up", "cached tokens/s", "KV cache MiB", "peak MiB"]  # fmt: skip
    return lines + _table(header, body)


def plot(rows: list[dict], directory: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    out = []
    # Throughput against sequence length, one line per framework x impl x mode, one panel per model.
    models = sorted({r["model"] for r in rows if r["family"] not in ("gemm", "generation")})
    for device in sorted({r["device"] for r in rows}):
        for pass_ in ("forward", "train"):
            sel = [r for r in rows if r["device"] == device and r["pass"] == pass_ and r["family"] not in ("gemm", "generation")
                   and not r["shape"].endswith("latency B1")]  # fmt: skip
            if not sel:
                continue
            cols = 3
            nrows = (len(models) + cols - 1) // cols
            fig, axes = plt.subplots(nrows, cols, figsize=(5 * cols, 3.6 * nrows), squeeze=False)
            for ax, model in zip(axes.flat, models, strict=False):
                lines: dict[str, list] = defaultdict(list)
                for r in sel:
                    if r["model"] == model:
                        lines[f"{r['framework']} {r['impl']} {r['mode']}"].append((r["seq_len"], r["tokens_per_s"]))
                for label, pts in sorted(lines.items()):
                    pts.sort()
                    ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=label,
                            linestyle="-" if label.startswith("torch") else "--")  # fmt: skip
                ax.set_title(model, fontsize=9)
                ax.set_xlabel("sequence length")
                ax.set_ylabel("tokens/s")
                ax.set_xscale("log", base=2)
                ax.set_yscale("log")
                # Unlabelled minor ticks: a panel spanning less than a decade labelled each (the text layout
                # of those labels was half of the report's 9 s).
                ax.xaxis.set_minor_formatter(NullFormatter())
                ax.yaxis.set_minor_formatter(NullFormatter())
                ax.legend(fontsize=6)
            for ax in list(axes.flat)[len(models) :]:
                ax.axis("off")
            fig.suptitle(f"throughput vs sequence length — {pass_} — {device}")
            fig.tight_layout()
            path = directory / f"throughput_{device}_{pass_}.png"
            fig.savefig(path, dpi=90)
            plt.close(fig)
            out.append(path)
    # Decode time per token against context length, cached vs uncached.
    gen = _generation(rows)
    for device in sorted({k[1] for k in gen}):
        fig, ax = plt.subplots(figsize=(8, 5))
        for i, ((_label, dev, framework, mode), by_ctx) in enumerate(sorted(gen.items())):
            if dev != device:
                continue
            for pass_, style in (("decode_cached", "-"), ("decode_uncached", ":")):
                pts = sorted((ctx, p[pass_]["median_s"] * 1e3) for ctx, p in by_ctx.items() if pass_ in p)
                if pts:  # one colour per framework x mode; solid = cached, dotted = uncached
                    ax.plot([p[0] for p in pts], [p[1] for p in pts], style, marker="o", color=f"C{i % 10}",
                            label=f"{framework} {mode} {pass_.removeprefix('decode_')}")  # fmt: skip
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("context length (tokens)")
        ax.set_ylabel("ms per decode step (one token per sequence)")
        ax.set_title(f"tiny_gpt decode time per token — {device}")
        ax.legend(fontsize=7)
        fig.tight_layout()
        path = directory / f"decode_vs_context_{device}.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        out.append(path)
    # TF/torch ratio bars.
    ratios = ratio_rows(rows)
    if ratios:
        fig, ax = plt.subplots(figsize=(10, 0.32 * len(ratios) + 1.5))
        labels = [f"{r['model']} {r['shape']} {r['pass']} {r['device']}" for r in ratios]
        y = range(len(ratios))
        ax.barh([i - 0.2 for i in y], [r["eager"] for r in ratios], height=0.4, label="twins, eager")
        ax.barh([i + 0.2 for i in y], [r["fastest"] for r in ratios], height=0.4, label="fastest of each")
        ax.axvline(1.0, color="k", linewidth=0.8)
        ax.set_yticks(list(y), labels, fontsize=7)
        ax.set_xscale("log")
        ax.set_xlabel("TF time / torch time (< 1: TensorFlow faster)")
        ax.legend()
        fig.tight_layout()
        path = directory / "ratio_tf_torch.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        out.append(path)
    # Efficiency against the GEMM limit: the best case of each model per pass.
    eff = [r for r in rows if r["efficiency"] is not None and r["model"] != "gemm"]
    if eff:
        best: dict[tuple, dict] = {}
        for r in eff:
            k = (r["model"], r["pass"], r["device"], r["framework"])
            if k not in best or r["efficiency"] > best[k]["efficiency"]:
                best[k] = r
        keys = sorted({k[:3] for k in best})
        fig, ax = plt.subplots(figsize=(10, 0.32 * len(keys) + 1.5))
        for j, fw in enumerate(("tf", "torch")):
            vals = [100 * best[k + (fw,)]["efficiency"] if k + (fw,) in best else 0 for k in keys]
            ax.barh([i + (j - 0.5) * 0.4 for i in range(len(keys))], vals, height=0.4, label=fw)
        ax.set_yticks(range(len(keys)), [" ".join(k) for k in keys], fontsize=7)
        ax.set_xlabel("% of the GEMM ceiling (best mode, analytic matmul FLOPs)")
        ax.axvline(100.0, color="k", linewidth=0.8)
        ax.legend()
        fig.tight_layout()
        path = directory / "efficiency.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        out.append(path)
    return out


def build_report(directory: str | Path) -> Path:
    """Rebuild results.json, the plots and report.md from a results directory's benchmark.json."""
    directory = Path(directory)
    source = directory / "benchmark.json"
    if not source.is_file():
        raise ValueError(f"{str(directory)!r} holds no benchmark.json (run `make bench` first)")
    raw = _read_json(source, dict, "a pytest-benchmark JSON of `make bench`")
    skipped_file = directory / "skipped.json"
    skipped = _read_json(skipped_file, list, "the list of skipped cases") if skipped_file.is_file() else []
    try:
        rows = rows_from_benchmark(raw)
    except (KeyError, TypeError, AttributeError, ZeroDivisionError) as e:
        raise ValueError(f"{str(source)!r} is not a benchmark.json of `make bench` (at {e!r})") from None
    if not rows:
        # Nothing measured: an existing results.json and report.md (of a run that did measure) are kept.
        raise ValueError(f"{str(source)!r} holds no twinmem case: nothing to report, and nothing was rewritten")
    write_text(directory / "results.json", json.dumps(rows, indent=1))
    plot(rows, directory)
    out = directory / "report.md"
    ab_file = directory / "ab.json"
    ab = _read_json(ab_file, list, "`make bench-ab`'s rows") if ab_file.is_file() else []
    write_text(out, render(rows, {**raw, "_dir": str(directory), "_ab": ab}, skipped))
    return out


def _read_json(path: Path, kind: type, what: str) -> Any:
    try:
        value = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{str(path)!r} is not JSON ({e}); expected {what}") from None
    if not isinstance(value, kind):
        raise ValueError(f"{str(path)!r} holds a JSON {type(value).__name__}; expected {what}")
    return value


def compare(a: str | Path, b: str | Path) -> str:
    """Markdown: each case present in both runs, time in A, time in B and B/A (device not part of the key,
    so a CPU run and a GPU run compare case by case)."""
    for d in (a, b):
        if not (Path(d) / "results.json").is_file():
            raise ValueError(f"{str(d)!r} holds no results.json (a bench-results directory of `make bench`)")
    ra, rb = (_read_json(Path(d) / "results.json", list, "the rows `make bench` writes") for d in (a, b))

    def key(r: dict[str, Any]) -> tuple[str, ...]:
        return (r["model"], r["shape"], r["framework"], r["impl"], r["mode"], r["pass"])

    try:
        ib = {key(r): r for r in rb}
        body = _compare_rows(ra, ib, key)
    except (KeyError, TypeError, ZeroDivisionError) as e:
        raise ValueError(
            f"{str(a)!r} or {str(b)!r}: a results.json row lacks what `make bench` writes ({e!r})"
        ) from None
    only = len(ra) - len(body), len(rb) - len(body)
    lines = [
        f"# twinmem: {a} (A) vs {b} (B)",
        "",
        f"{len(body)} cases in both; {only[0]} only in A, {only[1]} only in B.",
        "",
    ]
    header = ["model", "shape", "framework", "impl", "mode", "pass", "A ms", "B ms", "B/A"]
    return "\n".join(lines + _table(header, body)) + "\n"


def _compare_rows(ra: list[dict], ib: dict[tuple, dict], key: Any) -> list[list[str]]:
    body = []
    for r in ra:
        if key(r) in ib:
            s = ib[key(r)]
            body.append([*key(r), f"{r['device']} {_ms(r['median_s'])}", f"{s['device']} {_ms(s['median_s'])}",
                         f"{s['median_s'] / r['median_s']:.2f}"])  # fmt: skip
    return body
