# The two commands of the README: `make up` and `make test`. Needs only Python 3.11+ and access to PyPI:
# uv is installed from PyPI into .tools/uv, and uv builds .venv from uv.lock.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

PYTHON ?= python3
UV_VERSION := 0.13.9
UV_HOME := .tools/uv
UV := $(UV_HOME)/bin/uv
UV_STAMP := $(UV_HOME)/.installed-$(UV_VERSION)
BIN := .venv/bin

# Use the machine's Python, never one uv would download.
export UV_PYTHON_DOWNLOADS := never

MYPY_PATHS := libs/wfa/src $(wildcard services/*/src) $(wildcard tools/*/src) $(wildcard clients/*/src) bench
PYTEST_ARGS ?=
RUN_ARGS ?=
BENCH_ARGS ?=

.PHONY: help install up deps down test lint fmt bench screenshots clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(UV_STAMP):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed; this is " + sys.version.split()[0] + " (set PYTHON=...)")'
	$(PYTHON) -m venv $(UV_HOME)
	$(UV_HOME)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	@touch $@

install: $(UV_STAMP) ## create or update .venv from uv.lock (idempotent)
	$(UV) sync --locked --python $(PYTHON)

up: install ## start MongoDB and Kafka, run the three services in the foreground until Ctrl-C
	./start-deps.sh
	$(BIN)/wfa-devstack run-services $(RUN_ARGS)

deps: install ## start only MongoDB and Kafka (./start-deps.sh)
	./start-deps.sh

down: ## stop the MongoDB and Kafka that ./start-deps.sh started
	./start-deps.sh stop

lint: install ## ruff (lint and format check) and mypy --strict
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy $(MYPY_PATHS)

test: lint ## lint, then the whole test suite (it starts the servers it needs)
	$(BIN)/pytest $(PYTEST_ARGS)

fmt: install ## format and apply safe lint fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install ## run the benchmarks (python -m bench)
	$(BIN)/python -m bench $(BENCH_ARGS)

screenshots: install ## refresh the dashboard's screenshots in docs/img/ (its browser tests, against a real stack)
	WFA_SCREENSHOTS=docs/img $(BIN)/pytest tests/e2e/test_dashboard.py $(PYTEST_ARGS)

clean: ## remove caches (keeps .venv, .tools and the .devstack data)
	rm -rf .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -not -path './.venv/*' -not -path './.tools/*' -prune -exec rm -rf {} +
