# Every target installs what it needs itself: a local virtual environment (.venv) and,
# for the tests and the benchmark, Debian's PostgreSQL 15 + PostGIS 3 (as root, via apt).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: demo test check lint typecheck bench system-deps clean

$(STAMP): pyproject.toml
	rm -f $(VENV)/.installed-*
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

system-deps:
	scripts/install-system-deps

## The main job: run the engine on a generated scenario and print the conflicts.
demo: $(STAMP)
	$(BIN)/deconflict demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy
	$(BIN)/lint-imports

## Every check and every test (what CI runs).
test: $(STAMP) system-deps lint typecheck
	$(BIN)/python -m pytest

## The benchmark: writes docs/benchmarks.md (long: tens of minutes).
bench: $(STAMP) system-deps
	$(BIN)/python bench/run.py --sizes 100000,1000000 --out docs/benchmarks.md

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis

## The service benchmark: notifications/s and alert latency of `deconflict serve`, SQLite and
## PostgreSQL (~6 min); writes its section of docs/benchmarks.md and bench/results/service_load.json.
.PHONY: bench-service
bench-service: $(STAMP) system-deps
	$(BIN)/python bench/service_load.py --out docs/benchmarks.md

## The hotline benchmark: a FLASH message fanned out to 200 connected WebSocket clients, SQLite and
## PostgreSQL (~5 min); writes its section of docs/benchmarks.md and bench/results/hotline_fanout.json.
.PHONY: bench-hotline
bench-hotline: $(STAMP) system-deps
	$(BIN)/python bench/hotline_fanout.py --out docs/benchmarks.md

## The joint record's benchmark: append throughput (ledger path and inside the service) and offline
## verification of a 10^6-entry export (~6 min); writes its section of docs/benchmarks.md.
.PHONY: bench-ledger
bench-ledger: $(STAMP)
	$(BIN)/python bench/ledger_verify.py --out docs/benchmarks.md
