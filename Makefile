# Front doors. `make test` and (with the chat issue) `make run` are all a new user needs.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PIP    := $(PY) -m pip install --disable-pip-version-check -c constraints.txt

.PHONY: setup browser run test test-fast lint format ingest ask doctor serve eval fit-refusal bench bench-load bench-ingest bench-query clean-index

# make setup GPU=cuda (or GPU=metal) builds llama-cpp-python with GPU offload; then set
# n_gpu_layers: -1 (RAG_N_GPU_LAYERS=-1) and check with `make doctor`. The choice is kept in the venv
# (later plain `make` runs keep it); `make setup GPU=cpu` goes back.
GPU ?= $(or $(shell cat $(VENV)/.llama-gpu 2>/dev/null),$(LLAMA_OLD_GPU))
# a venv set up before the build cache marked its GPU build .venv/.llama-cuda (or -metal)
LLAMA_OLD_GPU = $(patsubst $(VENV)/.llama-%,%,$(firstword $(wildcard $(VENV)/.llama-cuda $(VENV)/.llama-metal)))
LLAMA_CMAKE_cuda  := -DGGML_CUDA=on
LLAMA_CMAKE_metal := -DGGML_METAL=on
$(if $(filter-out cpu cuda metal,$(GPU)),$(error GPU=$(GPU): use cuda, metal or cpu))

# llama-cpp-python is built by scripts/llama_build.py, once per CPU, into a wheel cache keyed to the
# CPU's flags, these CMake arguments and the Python version (README: "Why llama.cpp is built this
# way"), and installed before the project so pip never builds or reuses a wheel of its own. A new
# key (another CPU, GPU=, an old venv) has no stamp yet, so the next `make setup` installs it.
LLAMA_BUILD := scripts/llama_build.py --version 0.3.36 --variant "$(GPU)" --cmake-args="$(LLAMA_CMAKE_$(GPU))"
LLAMA_KEY   := $(shell $(if $(wildcard $(PY)),$(PY),$(PYTHON)) $(LLAMA_BUILD) key)
LLAMA_STAMP := $(VENV)/.llama-build-$(LLAMA_KEY)

setup: $(LLAMA_STAMP) $(STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check --quiet --upgrade pip

$(LLAMA_STAMP): | $(PY)
	$(PY) $(LLAMA_BUILD) install
	rm -f $(VENV)/.llama-*
	echo "$(or $(GPU),cpu)" > $(VENV)/.llama-gpu
	touch $@

$(STAMP): pyproject.toml constraints.txt vendor/en_core_web_sm/pyproject.toml | $(PY) $(LLAMA_STAMP)
	$(PY) -m pip install --disable-pip-version-check --quiet --upgrade pip
	$(PIP) -e ".[app,eval,dev]" ./vendor/en_core_web_sm
	touch $(STAMP)

run: setup
	$(PY) -m app $(if $(PORT),--port $(PORT))

test: setup browser
	$(PY) -m pytest

# The browser test drives Debian's chromium (system package, no download by Playwright).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	  else \
	    echo "The browser test needs Chromium: sudo apt-get install chromium chromium-driver"; exit 1; \
	  fi; }

test-fast: setup
	$(PY) -m pytest -m unit

lint: setup
	$(PY) -m ruff check rag ingest app tests scripts
	$(PY) -m ruff format --check rag ingest app tests scripts
	$(PY) -m mypy
	$(VENV)/bin/lint-imports

format: setup
	$(PY) -m ruff check --fix rag ingest app tests scripts
	$(PY) -m ruff format rag ingest app tests scripts

ingest: setup
	$(PY) -m ingest $(if $(DIR),$(DIR)) $(ARGS)

ask: setup
	$(PY) -m rag ask "$(Q)" $(ARGS)

doctor: setup
	$(PY) -m rag doctor

# The HTTP API (OpenAI-compatible chat completions with citations; docs at /docs).
serve: setup
	$(PY) -m rag serve $(if $(PORT),--port $(PORT)) $(ARGS)

bench-query: setup
	$(PY) scripts/bench_query.py $(ARGS)

eval: setup
	$(PY) -m rag.eval $(ARGS)

# Fit the refusal model for the configured backend on the fit splits (saved in refusal_dir).
fit-refusal: setup
	$(PY) -m rag.eval --fit-refusal $(ARGS)

bench: setup
	$(PY) scripts/bench_all.py $(ARGS)

# The HTTP API under 1, 4 and 16 concurrent users: in-process model, a llama.cpp server, and with
# an ingestion running (p50/p95, answers/s, errors).
bench-load: setup
	$(PY) scripts/bench_load.py $(ARGS)

bench-ingest: setup
	$(PY) scripts/bench_ingest.py $(ARGS)

clean-index:
	rm -rf data/index
