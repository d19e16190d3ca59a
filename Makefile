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

## The web UI (web/ → src/deconflict/api/webui/): npm packages from the lock file, then esbuild.
WEB_MODULES := web/node_modules/.installed
WEB_STAMP := src/deconflict/api/webui/.built
$(WEB_MODULES): web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error
	touch $@
$(WEB_STAMP): $(WEB_MODULES) web/build.mjs $(shell find web/src -type f 2>/dev/null)
	cd web && node build.mjs
	touch $@
.PHONY: web
web: $(WEB_STAMP)

## The main job: the service on SQLite with a fictional theatre and simulated liaison officers;
## prints the URL of the common operating picture and the log-ins (Ctrl-C stops it).
demo: $(STAMP) $(WEB_STAMP)
	$(BIN)/deconflict demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy
	$(BIN)/lint-imports

## Every check and every test (what CI runs).
test: $(STAMP) $(WEB_STAMP) system-deps lint typecheck
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

## The web UI's benchmark: first paint of the common operating picture with 5,000 activities and pan
## frames/s with 20,000 volumes, in headless Chromium (~15 min, most of it filing the data through the
## service); writes its section of docs/benchmarks.md and bench/results/web_picture.json.
.PHONY: bench-web
bench-web: $(STAMP) $(WEB_STAMP)
	$(BIN)/python bench/web_picture.py --out docs/benchmarks.md
