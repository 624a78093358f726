# make parity | make bench | make lint — each makes .venv by itself on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The CPU wheel on this kind of machine. Elsewhere: TORCH_SPEC="torch==2.13.0 --index-url
# https://download.pytorch.org/whl/cpu" (PyPI's plain torch==2.13.0 is a CUDA build); GPU: README.
TORCH_SPEC ?= torch==2.13.0
PROFILE ?= quick
DEVICE ?= all

.PHONY: parity bench bench-ab lint format clean

# Re-made whenever pyproject.toml changes. `make bench` needs the models, both frameworks and
# pytest-benchmark (.installed-bench); parity and lint add transformers, ruff, mypy and hypothesis: 15 s of
# a fresh install that `make bench` (5 min in all) has no use for. The venv's own pip is recent enough.
$(BIN)/.installed-bench: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q $(TORCH_SPEC)
	$(BIN)/python -m pip install -q -e '.[bench,tf]'
	touch $@

$(BIN)/.installed: $(BIN)/.installed-bench
	$(BIN)/python -m pip install -q -e '.[dev,tf,hf]'
	touch $@

parity: $(BIN)/.installed
	$(BIN)/python -m pytest -q parity_tests

bench: $(BIN)/.installed-bench
	TWINMEM_PROFILE=$(PROFILE) TWINMEM_DEVICE=$(DEVICE) $(BIN)/python -m benchmarks.run

# Twin vs built-in timed interleaved (benchmarks/ab.py, ~40 s), then the report again with its table.
bench-ab: $(BIN)/.installed-bench
	$(BIN)/python -m benchmarks.ab
	$(BIN)/twinmem report bench-results

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(BIN)/.installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) bench-results .pytest_cache .benchmarks
