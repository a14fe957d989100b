# The README's two commands: `make run` and `make test`. Both work on a fresh clone:
# they create .venv if it is missing and install the pinned stack into it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
# Re-install when the package metadata or the pins change.
DEPS   := pyproject.toml constraints.txt

.PHONY: run demo test lint pytest bench bench-quick bench-kernels bench-engine bench-simulate lock clean

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

## demo: the cascade's geometry with oracle models on a generated scene (no trained model)
demo: $(VENV)/.installed-run
	$(BIN)/cascade demo --size 2600 --out demo-output --overwrite

## test: lint, type-check and the test suite
test: $(VENV)/.installed-test
	$(BIN)/ruff check cascade training benchmarks tests
	$(BIN)/ruff format --check cascade training benchmarks tests
	$(BIN)/mypy
	$(BIN)/python -m pytest

pytest: $(VENV)/.installed-test
	$(BIN)/python -m pytest

lint: $(VENV)/.installed-test
	$(BIN)/ruff check cascade training benchmarks tests
	$(BIN)/ruff format --check cascade training benchmarks tests
	$(BIN)/mypy

## bench: the full benchmark suite (accuracy, speed, loss ablation; about an hour on 2 cores):
## benchmarks/results/full/*.json, docs/benchmarks.md and its plots
bench: $(VENV)/.installed-bench
	$(BIN)/python -m benchmarks run full

## bench-quick: the same suites at small sizes (under 10 min on 2 cores): docs/benchmarks-quick.md
bench-quick: $(VENV)/.installed-bench
	$(BIN)/python -m benchmarks run quick

## bench-kernels: kernel benchmarks on a full Sentinel-2-sized scene (results in benchmarks/results/)
bench-kernels: $(VENV)/.installed-run
	$(BIN)/python -m benchmarks.kernels

## bench-engine: cascade vs patch baseline on a full-size scene on disk (about 8 min)
bench-engine: $(VENV)/.installed-run
	$(BIN)/python -m benchmarks.engine

## bench-simulate: a full-size simulated scene to disk, peak RSS (about 2 min)
bench-simulate: $(VENV)/.installed-run
	$(BIN)/python -m benchmarks.simulate

## bench-batch: scenes per hour with 1 and 2 Dask workers, per-worker memory (MODEL=dir to pick
## the model pair; default the shipped sentinel2-l1c-7)
.PHONY: bench-batch
bench-batch: $(VENV)/.installed-run
	$(BIN)/python -m benchmarks.batch $(if $(MODEL),--model $(MODEL))

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
