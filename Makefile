# Two commands from a fresh clone: `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON_BIN ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
CHROMIUM ?= /usr/bin/chromium
MUTANT_CHILDREN ?= $(shell nproc 2>/dev/null || echo 2)
# Root installs directly; anyone else goes through sudo when there is one.
SUDO := $(shell [ "$$(id -u)" = 0 ] || command -v sudo)
# Wait for another apt run (unattended upgrades, a parallel install) instead of failing.
APT_GET := $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=600

# The translations: catalogs kept as .po, compiled to .mo here (never committed).
CATALOGS := $(wildcard locale/*/LC_MESSAGES/django.po)
COMPILED := $(CATALOGS:.po=.mo)

.PHONY: help install run test lint format bench mutants chromium gettext translations messages

help:
	@echo "make run    serve the admin on http://127.0.0.1:8000/admin/ with demo data"
	@echo "make test   run the whole suite on PostgreSQL (started or installed as needed)"
	@echo "make lint   ruff check and ruff format --check"
	@echo "make bench  run the benchmarks on PostgreSQL and print their figures"
	@echo "make mutants  mutation-test the guards (mutmut) and print the surviving mutants"
	@echo "make messages  refresh locale/*/django.po from the strings marked in the code"

$(INSTALLED): pyproject.toml
	@test -x $(PY) || $(PYTHON_BIN) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $@

install: $(INSTALLED)

chromium:
	@if [ ! -x $(CHROMIUM) ]; then \
	  echo "make: installing Debian's chromium for the browser tests"; \
	  $(APT_GET) update && $(APT_GET) install -y chromium; \
	fi

gettext:
	@if ! command -v msgfmt >/dev/null; then \
	  echo "make: installing Debian's gettext for the translations"; \
	  $(APT_GET) update && $(APT_GET) install -y gettext; \
	fi

# --check: a msgstr whose placeholders differ from its msgid's fails here, not on a page.
locale/%.mo: locale/%.po | gettext
	@msgfmt --check -o $@ $<

translations: $(COMPILED)

messages: $(INSTALLED) gettext
	@./scripts/update-messages.sh

run: $(INSTALLED) translations
	@./scripts/run-dev.sh

# PostgreSQL from DATABASE_URL, 127.0.0.1:5432, or the machine's cluster (installed if need be).
# The suite always runs on PostgreSQL: without one, make test fails with the reason.
test: $(INSTALLED) chromium translations
	@url=$$(./scripts/ensure-postgres.sh) || { \
	  echo "make test: no PostgreSQL could be found, started or installed; set DATABASE_URL" >&2; \
	  exit 1; }; \
	export DATABASE_URL="$$url"; \
	echo "make test: database $${url%%\?*}" | sed -E 's#//([^:@/]*):[^@/]*@#//\1:***@#'; \
	CHROMIUM_PATH=$(CHROMIUM) $(PY) -m pytest $(PYTEST_ARGS)

lint: $(INSTALLED)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(INSTALLED)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: $(INSTALLED)
	@url=$$(./scripts/ensure-postgres.sh) || { echo "make bench: no PostgreSQL available" >&2; exit 1; }; \
	DATABASE_URL="$$url" $(PY) -m benchmarks

# Mutation testing of the modules that hold the guards, with the tests that cover them (see
# [tool.mutmut] in pyproject.toml). Not part of `make test`: a fresh run each time, on databases
# of their own (the test database's name + "_mutants", one per mutant running at once), so it
# never meets a test run's. MUTANT_CHILDREN mutants run at once (the number of cores by default).
# Prints the counts and every survivor that docs/mutants.md does not already judge.
mutants: $(INSTALLED) translations
	@url=$$(./scripts/ensure-postgres.sh) || { echo "make mutants: no PostgreSQL available" >&2; exit 1; }; \
	export DATABASE_URL=$$(echo "$$url" | sed -E 's#^([^?]*/[^/?]+)(\?.*)?$$#\1_mutants\2#'); \
	echo "make mutants: database $${DATABASE_URL%%\?*}" | sed -E 's#//([^:@/]*):[^@/]*@#//\1:***@#'; \
	rm -rf mutants; \
	$(PY) scripts/drop-mutant-databases.py || exit 1; \
	$(VENV)/bin/mutmut run --max-children $(MUTANT_CHILDREN) && $(PY) scripts/mutants-report.py
