# Provisor — two commands: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test bench services lint clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

services:
	bash deploy/scripts/ensure-services.sh

## make test: install, ensure PostgreSQL + Redis, fresh test database, migrations, whole suite
test: $(STAMP) services
	$(PY) -m pytest -q -p no:cacheprovider tests

## make demo: embedded PostgreSQL + local executor (or the servers when DATABASE_URL/CELERY_BROKER_URL are set)
demo: $(STAMP)
	$(VENV)/bin/provisor demo

## make bench: speed and memory against references measured in the same run (never part of make test)
bench: $(STAMP) services
	$(PY) -m tests.benchmarks.run_all

clean:
	rm -rf $(VENV) var .pytest_cache
