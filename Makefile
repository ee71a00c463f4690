# Two commands on a fresh machine: `make demo` runs the simulated site, `make test` runs the tests.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint bench install services resilience

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/sekisho demo $(ARGS)

services:
	scripts/test-services

test: $(STAMP) services
	$(BIN)/pytest $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/sekisho bench $(ARGS)

# The long resilience drills (issue 9; not in CI): 1,000 crash points, schema fuzzing per role with
# every phase, 20,000 examples per parser property. Results in resilience-results.json.
resilience: $(STAMP) services
	$(BIN)/python -m resilience all $(ARGS)
