# OrderHub: `make demo` to try it, `make test` to check it. Both install what they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
export DJANGO_SETTINGS_MODULE ?= orderhub.settings

.PHONY: help install system-deps env demo test lint typecheck pytest bench stop clean-data

help:
	@echo "make demo   install, start embedded PostgreSQL + Redis, migrate, load demo data, run everything"
	@echo "make test   install, lint, type-check and run the whole test suite"
	@echo "make bench  run the benchmark scripts and print their figures"
	@echo "make stop   stop the embedded PostgreSQL and Redis"

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed .env

# Debian packages for PDFs (CJK font, HarfBuzz subsetting), PDF checks and browser tests.
system-deps:
	bash scripts/system-deps.sh

# A local .env for development only: DEBUG on and a random SECRET_KEY. Never committed.
.env:
	@printf 'DEBUG=true\nSECRET_KEY=%s\n' "$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))')" > $@
	@echo "wrote .env (DEBUG=true, random SECRET_KEY)"

demo: install
	$(PY) manage.py migrate --no-input -v0
	$(PY) manage.py collectstatic --no-input -v0
	$(PY) manage.py demo_data
	PORT=$(PORT) bash scripts/demo.sh

test: install system-deps lint typecheck pytest

lint: install
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

typecheck: install
	$(VENV)/bin/mypy .

pytest: install
	$(PY) manage.py check --fail-level WARNING
	$(PY) manage.py makemigrations --check --dry-run
	$(VENV)/bin/pytest $(PYTEST_ARGS)

bench: install
	$(PY) -m bench.run $(BENCH)

stop:
	$(PY) -m orderhub.embedded stop
