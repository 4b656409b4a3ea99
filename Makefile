# Two commands: `make run` (broker, worker, seed replay, alerts printed) and `make test`.
# Both install what they need first: a virtualenv with the project and its pinned spaCy
# model, and the Kafka broker jars from Maven Central.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install run test lint schemas seeds clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/wirewatch broker fetch
	touch $@

run: install
	./scripts/run-local.sh

test: install
	./scripts/test.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

# Regenerate the derived files that tests check for staleness.
schemas: install
	$(BIN)/python -m schemas.export

seeds: install
	$(BIN)/python -m seeds.build

clean:
	-$(BIN)/wirewatch broker stop
	rm -rf $(VENV) .wirewatch .pytest_cache .ruff_cache .mypy_cache
