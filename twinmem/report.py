"""Turn a pytest-benchmark JSON into results.json (flat rows) and report.md (tables people read).

``results.json`` schema, one row per case:
    model, shape, family, framework, impl, mode, pass, device, threads,
    median_s, iqr_s, rounds, batch, tokens, seq_per_s, tokens_per_s, gflop_per_s, compile_s,
    versions ({python, torch, tensorflow, numpy}), machine.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path


def rows_from_benchmark(raw: dict) -> list[dict]:
    versions = raw.get("twinmem_versions") or {}
    rows = []
    for b in raw["benchmarks"]:
        x, s = b["extra_info"], b["stats"]
        median = s["median"]
        rows.append(
            {
                "model": x["model"],
                "shape": x["shape"],
                "family": x.get("family", ""),
                "framework": x["framework"],
                "impl": x["impl"],
                "mode": x["mode"],
                "pass": x["pass_"],
                "device": x["device"],
                "threads": x["threads"],
                "median_s": median,
                "iqr_s": s["iqr"],
                "rounds": s["rounds"],
                "batch": x["batch"],
                "tokens": x["tokens"],
                "seq_per_s": x["batch"] / median,
                "tokens_per_s": x["tokens"] / median,
                "gflop_per_s": x["flops"] / median / 1e9,
                "compile_s": x["compile_s"],
                "versions": versions,
                "machine": raw.get("machine_info", {}).get("cpu", {}).get("brand_raw", ""),
            }
        )
    return rows


def _ms(s: float) -> str:
    return f"{s * 1e3:.3g}"


def _table(header: list[str], body: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in body]


def render(rows: list[dict], raw: dict) -> str:
    mi = raw.get("machine_info", {})
    threads = sorted({r["threads"] for r in rows})
    versions = rows[0]["versions"] if rows else {}
    lines = [
        "# twinmem benchmark report",
        "",
        f"- machine: {mi.get('cpu', {}).get('brand_raw', '?')}, {mi.get('cpu', {}).get('count', '?')} logical CPUs; "
        f"python {mi.get('python_version', '?')}",
        f"- versions: {', '.join(f'{k} {v}' for k, v in versions.items())}",
        f"- threads per framework (intra-op, equal for both): {', '.join(map(str, threads))}",
        f"- run: {raw.get('datetime', '?')}",
        "- times are medians of steady-state rounds after warm-up; `first call` is the first call on its own "
        "(tracing / compilation) and is not in the median. `train` = forward + gradients of every weight and "
        "floating input. GFLOP/s counts matmul FLOPs analytically (train = 3 x forward).",
        "- `× torch` = this case's time / the torch twin's eager time for the same model, shape, pass and device "
        "(> 1: slower than torch eager). Built-ins are called without returning attention weights, so they may "
        "take fused kernels the twins (which return the weights) cannot.",
        "",
    ]
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        groups[(r["family"], r["model"], r["shape"], r["device"])].append(r)
    summary = []
    for family in sorted({k[0] for k in groups}):
        lines += [f"## {family}", ""]
        for (fam, model, shape, device), rs in groups.items():
            if fam != family:
                continue
            lines += [f"### {model} — {shape} — {device}", ""]
            body = []
            for pass_ in ("forward", "train"):
                prs = [r for r in rs if r["pass"] == pass_]
                base = next(
                    (r for r in prs if r["framework"] == "torch" and r["impl"] == "twin" and r["mode"] == "eager"), None
                )
                for r in sorted(prs, key=lambda r: r["median_s"]):
                    ratio = f"{r['median_s'] / base['median_s']:.2f}" if base else "–"
                    body.append(
                        [pass_, r["framework"], r["impl"], r["mode"], _ms(r["median_s"]), _ms(r["iqr_s"]),
                         f"{r['seq_per_s']:.4g}", f"{r['tokens_per_s']:.4g}", f"{r['gflop_per_s']:.3g}",
                         _ms(r["compile_s"]), ratio]
                    )  # fmt: skip
                twins = {(r["framework"], r["mode"]): r for r in prs if r["impl"] == "twin"}
                if ("tf", "eager") in twins and ("torch", "eager") in twins:
                    best_tf = min((r for r in prs if r["framework"] == "tf"), key=lambda r: r["median_s"])
                    best_torch = min((r for r in prs if r["framework"] == "torch"), key=lambda r: r["median_s"])
                    summary.append(
                        [model, shape, device, pass_,
                         f"{twins['tf', 'eager']['median_s'] / twins['torch', 'eager']['median_s']:.2f}",
                         f"{best_tf['median_s'] / best_torch['median_s']:.2f}",
                         f"{best_tf['impl']} {best_tf['mode']}", f"{best_torch['impl']} {best_torch['mode']}"]
                    )  # fmt: skip
            header = ["pass", "framework", "impl", "mode", "median ms", "IQR ms", "seq/s", "tokens/s", "GFLOP/s",
                      "first call ms", "× torch"]  # fmt: skip
            lines += _table(header, body) + [""]
    header = ["model", "shape", "device", "pass", "TF/torch twins (eager)", "TF/torch (fastest of each)", "fastest TF",
              "fastest torch"]  # fmt: skip
    lines = (
        lines[:9]
        + ["## TF/torch time ratios (< 1: TensorFlow faster)", ""]
        + _table(header, summary)
        + [""]
        + lines[9:]
    )
    return "\n".join(lines) + "\n"


def build_report(directory: str | Path) -> Path:
    directory = Path(directory)
    raw = json.loads((directory / "benchmark.json").read_text())
    rows = rows_from_benchmark(raw)
    (directory / "results.json").write_text(json.dumps(rows, indent=1))
    out = directory / "report.md"
    out.write_text(render(rows, raw))
    return out
