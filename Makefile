# Front doors. `make test` and (with the chat issue) `make run` are all a new user needs.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PIP    := $(PY) -m pip install --disable-pip-version-check -c constraints.txt

.PHONY: setup run test test-fast lint format ingest bench-ingest clean-index

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt vendor/en_core_web_sm/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check --quiet --upgrade pip
	$(PIP) -e ".[dev]" ./vendor/en_core_web_sm
	touch $(STAMP)

run:
	@echo "make run (the browser chat) is not built yet: it arrives with the chat UI (issue 4)."
	@echo "Today: make ingest (index data/sample) and make test."
	@exit 1

test: setup
	$(PY) -m pytest

test-fast: setup
	$(PY) -m pytest -m unit

lint: setup
	$(PY) -m ruff check rag ingest app tests scripts
	$(PY) -m ruff format --check rag ingest app tests scripts
	$(PY) -m mypy

format: setup
	$(PY) -m ruff check --fix rag ingest app tests scripts
	$(PY) -m ruff format rag ingest app tests scripts

ingest: setup
	$(PY) -m ingest $(if $(DIR),$(DIR)) $(ARGS)

bench-ingest: setup
	$(PY) scripts/bench_ingest.py $(ARGS)

clean-index:
	rm -rf data/index
