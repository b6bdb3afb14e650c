# Day one in two commands, on a machine with only Python 3.11 (see the README):
#
#   make run    a virtual environment in .venv, PyTorch's CPU build, the harness with the
#               ExecuTorch and LiteRT exporters, CMake for the native runner, and the first
#               benchmark on this host
#   make test   what the tests need besides (Python extras, npm packages, Debian's servers where
#               it may: tools/install_system_packages.sh says which need root), then the
#               default test tier (at most 5 minutes on 2 cores)
#
#   make test-slow   the slow tier (`-m slow`); make test-all: both, as .ci/run does
#
# PYTHON picks the interpreter the environment is made from (3.11 or newer).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check
PYTEST := $(BIN)/python -m pytest -q -p no:cacheprovider
FIRST_RUN := $(BIN)/harness run --device host --models repvit_m0_9 --formats executorch,tflite

# The tests start the harness in hundreds of processes: with PYTHONDONTWRITEBYTECODE set (some
# CI images set it), each compiles the harness from source again, a second per run.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: run env test test-env test-slow test-all clean-env

run: $(BIN)/.installed-run
	$(FIRST_RUN)

env: $(BIN)/.installed-run

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed: make PYTHON=/path/to/python3.11")'
	$(PYTHON) -m venv $(VENV)

$(BIN)/.installed-torch: $(BIN)/python tools/install_torch.py
	$(BIN)/python tools/install_torch.py
	@touch $@

$(BIN)/.installed-run: $(BIN)/.installed-torch pyproject.toml
	$(PIP) install --quiet -e ".[executorch,tflite,native]"
	@touch $@

$(BIN)/.installed-test: $(BIN)/.installed-torch pyproject.toml package.json package-lock.json
	bash tools/install_system_packages.sh
	$(PIP) install --quiet -e ".[all,test]"
	if command -v npm >/dev/null; then npm ci --no-audit --no-fund --loglevel=error; \
	else echo "npm is missing: the tests that need quicktype or kotlinc skip (install nodejs and npm)" >&2; fi
	@touch $@

test-env: $(BIN)/.installed-test

test: $(BIN)/.installed-test
	$(PYTEST)

test-slow: $(BIN)/.installed-test
	$(PYTEST) -m slow

test-all: test test-slow

clean-env:
	rm -rf $(VENV) node_modules
