import json
import os
import platform
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from twinmem.frameworks import pin_threads, unavailable  # noqa: E402

# Fairness: the same intra-op thread count for both frameworks, set before either starts its
# runtime (TensorFlow ignores a later change), and recorded with every result.
THREADS = int(os.environ.get("TWINMEM_THREADS", os.cpu_count() or 1))
pin_threads(THREADS)

# Fairness on GPU: TensorFlow enables TF32 matmuls by default on Ampere and later, torch does not;
# both run full float32 unless TWINMEM_TF32=1 turns TF32 on for both. cuDNN autotuning stays off
# (deterministic algorithm choice, no tuning inside the timed rounds).
TF32 = os.environ.get("TWINMEM_TF32", "0") == "1"
CUDNN_BENCHMARK = False
if unavailable("torch") is None:
    import torch

    torch.backends.cuda.matmul.allow_tf32 = TF32
    torch.backends.cudnn.allow_tf32 = TF32
    torch.backends.cudnn.benchmark = CUDNN_BENCHMARK
if unavailable("tf") is None:
    import tensorflow as tf

    tf.config.experimental.enable_tensor_float_32_execution(TF32)

OUT = Path(os.environ.get("TWINMEM_BENCH_DIR", "bench-results"))
_progress = {"done": 0, "total": 0}
_skipped: list[dict] = []


def pytest_collection_modifyitems(session, config, items):
    _progress["total"] = len(items)


def pytest_runtest_logstart(nodeid, location):
    # Progress: which case, how many left (pytest -q alone prints only dots).
    _progress["done"] += 1
    case = nodeid.split("[", 1)[-1].rstrip("]")
    print(f"\n[{_progress['done']}/{_progress['total']}] {case}", end="", flush=True)


def pytest_runtest_logreport(report):
    if report.skipped and report.when in ("setup", "call"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        _skipped.append(
            {"case": report.nodeid.split("[", 1)[-1].rstrip("]"), "reason": reason.removeprefix("Skipped: ")}
        )


def pytest_sessionfinish(session, exitstatus):
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "skipped.json").write_text(json.dumps(_skipped, indent=1))


def pytest_benchmark_update_json(config, benchmarks, output_json):
    import numpy

    versions = {"python": platform.python_version(), "numpy": numpy.__version__}
    for module in ("torch", "tensorflow", "keras"):
        try:
            versions[module] = __import__(module).__version__
        except ImportError:
            versions[module] = "not installed"
    output_json["twinmem_versions"] = versions
    output_json["twinmem_settings"] = {"threads": THREADS, "tf32": TF32, "cudnn_benchmark": CUDNN_BENCHMARK}
