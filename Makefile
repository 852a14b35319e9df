# codetether: make run (a real agent task on the embedded model), make test (the whole suite).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup run test check bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	# llama-cpp-python compiles from source on first install (~10 min on 2 cores); pip caches the wheel.
	CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) $(BIN)/pip install -e '.[embedded,archive,test]'
	touch $(STAMP)

run: setup
	PATH="$(abspath $(BIN)):$$PATH" scripts/demo.sh

test: setup
	$(BIN)/python -m pytest

check: setup
	$(BIN)/ruff check daemon lsp bench tests
	$(BIN)/mypy daemon lsp
	$(BIN)/python -m pytest -q -x tests/unit

bench: setup
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .demo build *.egg-info
