# The README's two commands: `make run` and `make test`. Both work on a fresh clone:
# they create .venv if it is missing and install the pinned stack into it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
# Re-install when the package metadata or the pins change.
DEPS   := pyproject.toml constraints.txt

.PHONY: run demo test test-fast lint pytest bench bench-quick bench-kernels bench-engine \
	bench-simulate bench-batch bench-levers lock clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-run: $(DEPS) | $(BIN)/python
	$(PIP) install --quiet --disable-pip-version-check -c constraints.txt -e .
	touch $@

$(VENV)/.installed-test: $(DEPS) | $(BIN)/python
	$(PIP) install --quiet --disable-pip-version-check -c constraints.txt -e ".[test,bench]"
	touch $@ $(VENV)/.installed-run $(VENV)/.installed-bench

$(VENV)/.installed-bench: $(DEPS) | $(BIN)/python
	$(PIP) install --quiet --disable-pip-version-check -c constraints.txt -e ".[bench]"
	touch $@ $(VENV)/.installed-run

## run: the main job: mask the real sample scene with the shipped model, mask + quicklook PNG
run: $(VENV)/.installed-run
	mkdir -p demo-output
	$(BIN)/cascade mask sample/s2cloudless_scene.tif demo-output/sample_mask.tif \
		--quicklook demo-output/sample_quicklook.png --overwrite

## demo: the engine (run_cascade) with oracle models on a generated scene (no trained model)
demo: $(VENV)/.installed-run
	$(BIN)/cascade demo --size 2600 --out demo-output --overwrite

LINTED := cascade training benchmarks tests

# Test processes (pytest-xdist): the suite is mostly one-threaded, so two use both cores. Test
# files stay whole on one process (--dist loadfile), so module fixtures are built once.
JOBS ?= 2
PYTEST := $(BIN)/python -m pytest -n $(JOBS) --dist loadfile

## test: lint, type-check, size limits and the whole test suite (what CI runs)
test: lint
	$(PYTEST)

## test-fast: the inner loop: the tests not marked slow (about 2 min)
test-fast: $(VENV)/.installed-test
	$(PYTEST) -m "not slow"

pytest: $(VENV)/.installed-test
	$(PYTEST)

## lint: ruff, ruff format, mypy and the size limits (500 lines a module, 80 a function)
lint: $(VENV)/.installed-test
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy
	$(BIN)/python tests/check_sizes.py

## bench: the full benchmark suites (accuracy, speed, loss ablation; about an hour on 2 cores):
## benchmarks/results/full/*.json, docs/benchmarks.md and its plots
bench: $(VENV)/.installed-bench
	$(BIN)/python -m benchmarks run full

## bench-quick: the same suites at small sizes (under 10 min on 2 cores): docs/benchmarks-quick.md
bench-quick: $(VENV)/.installed-bench
	$(BIN)/python -m benchmarks run quick

## bench-kernels: the kernel suite on a full Sentinel-2-sized scene (about 3 min, 13 GB of RAM)
bench-kernels: $(VENV)/.installed-bench
	$(BIN)/python -m benchmarks run full --only kernels

## bench-engine: the engine suite, cascade vs patch baseline on a full-size scene on disk (~8 min)
bench-engine: $(VENV)/.installed-bench
	$(BIN)/python -m benchmarks run full --only engine

## bench-levers: the fine model's training-data levers, scored on the L8 Biome val patches
## (five training arms of 400 steps each: 35 min on this machine, 2026-12-01)
bench-levers: $(VENV)/.installed-bench
	$(BIN)/python -m benchmarks run full --only levers

## bench-simulate: the simulate suite, a full-size simulated scene to disk, peak RSS (~2 min)
bench-simulate: $(VENV)/.installed-bench
	$(BIN)/python -m benchmarks run full --only simulate

## bench-batch: the batch suite, scenes per hour with 1 and 2 Dask workers, per-worker memory
bench-batch: $(VENV)/.installed-bench
	$(BIN)/python -m benchmarks run full --only batch

## lock: re-resolve the stack in a scratch venv and rewrite constraints.txt
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet -e ".[test,bench]"
	{ echo "# Every package of the tested environment (Python 3.11, Linux x86_64), pinned."; \
	  echo "# Installed with: pip install -c constraints.txt -e '.[test,bench]'  (see Makefile)."; \
	  echo "# Regenerate after changing pyproject.toml: make lock"; \
	  .lock-venv/bin/python -m pip freeze --exclude-editable; } > constraints.txt
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .mypy_cache .ruff_cache demo-output
