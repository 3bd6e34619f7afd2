# Two commands from a fresh clone: `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON_BIN ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
CHROMIUM ?= /usr/bin/chromium

.PHONY: help install run test lint format bench chromium migrate

help:
	@echo "make run    serve the admin on http://127.0.0.1:8000/admin/ with demo data"
	@echo "make test   run the whole suite on PostgreSQL (started or installed as needed)"
	@echo "make lint   ruff check and ruff format --check"
	@echo "make bench  run the benchmarks on PostgreSQL and print their figures"

$(INSTALLED): pyproject.toml
	@test -x $(PY) || $(PYTHON_BIN) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $@

install: $(INSTALLED)

chromium:
	@if [ ! -x $(CHROMIUM) ]; then \
	  echo "installing Debian's chromium for the browser tests"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -q && apt-get install -y -q chromium; \
	fi

run: $(INSTALLED)
	@./scripts/run-dev.sh

test: $(INSTALLED) chromium
	@set -o pipefail; \
	url=$$(./scripts/ensure-postgres.sh) || { echo "make test: no PostgreSQL available" >&2; exit 1; }; \
	DATABASE_URL="$$url" CHROMIUM_PATH=$(CHROMIUM) $(PY) -m pytest $(PYTEST_ARGS)

lint: $(INSTALLED)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(INSTALLED)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: $(INSTALLED)
	@url=$$(./scripts/ensure-postgres.sh) || { echo "make bench: no PostgreSQL available" >&2; exit 1; }; \
	DATABASE_URL="$$url" $(PY) -m benchmarks
