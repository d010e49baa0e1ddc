# Two commands set everything up on a fresh machine: `make demo` and `make test`.
# Both install from the lock files requirements.txt and requirements-dev.txt (every package pinned, with hashes),
# so a fresh clone gets the versions the suite last passed with; `make lock` refreshes them (README, Development).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := pip==26.3
TORCH  := torch==2.13.0
LOCKER := $(VENV)-lock
# pip-compile options shared by both locks: hashes, no machine-specific index lines, torch left out (below).
COMPILE := $(LOCKER)/bin/pip-compile -q --generate-hashes --strip-extras --no-emit-index-url --no-emit-find-links \
	--unsafe-package torch --constraint constraints-torch.txt

.PHONY: demo test test-fast lint format lock clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q $(PIP)

# torch first, pinned and outside the hashed locks: the same version is a CPU build here and a CUDA build on a
# GPU machine, with different files (unpinned, pip resolves a CUDA build of several GB).
# The runtime: what the studio needs to run (no dev tools, no Ray, no bitsandbytes).
$(VENV)/.runtime: $(BIN)/python requirements.txt pyproject.toml
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q --require-hashes -r requirements.txt
	$(BIN)/pip install -q --no-deps --no-build-isolation -e .
	touch $@

# The runtime plus the dev extras: linters, pytest, Ray, torchao, bitsandbytes, sd-parsers.
$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(BIN)/pip install -q --require-hashes -r requirements-dev.txt
	touch $@

demo: $(VENV)/.runtime
	$(BIN)/studio --data-dir data/demo demo

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(VENV)/.dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: $(VENV)/.dev lint
	$(BIN)/python -m pytest

# Everything but the tests that run the real engine on the tiny models (`slow`): for quick iterations.
test-fast: $(VENV)/.dev
	$(BIN)/python -m pytest -m "not slow"

# Re-resolve every package from pyproject.toml's ranges to the newest releases, then `make test` before committing.
# Resolved on Linux x86_64, Python 3.11, against the CPU build of torch that pip finds for $(TORCH).
lock:
	test -x $(LOCKER)/bin/pip-compile || ($(PYTHON) -m venv $(LOCKER) && $(LOCKER)/bin/pip install -q $(PIP) pip-tools==7.7.0)
	$(COMPILE) --upgrade -o requirements.txt pyproject.toml
	$(COMPILE) --upgrade --extra dev --constraint requirements.txt -o requirements-dev.txt pyproject.toml

clean:
	rm -rf $(VENV) $(LOCKER) data/demo .pytest_cache .ruff_cache .mypy_cache
