import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from twinmem.frameworks import pin_threads  # noqa: E402

# Fairness: the same intra-op thread count for both frameworks, set before either starts its
# runtime (TensorFlow ignores a later change), and recorded with every result.
THREADS = int(os.environ.get("TWINMEM_THREADS", os.cpu_count() or 1))
pin_threads(THREADS)


def pytest_benchmark_update_json(config, benchmarks, output_json):
    import platform

    import numpy

    versions = {"python": platform.python_version(), "numpy": numpy.__version__}
    for module in ("torch", "tensorflow", "keras"):
        try:
            versions[module] = __import__(module).__version__
        except ImportError:
            versions[module] = "not installed"
    output_json["twinmem_versions"] = versions
