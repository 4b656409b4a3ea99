# Two commands: `make run` (broker, worker, seed replay, alerts printed) and `make test`.
# Both install what they need first: a virtualenv with the project and its pinned spaCy
# model, and the Kafka broker jars from Maven Central.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install run test faults lint schemas readme seeds clean

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

# The fault-injection suite alone (it also runs in `make test`), then its matrix; a fixed
# seed replays the same kill points: make faults WIREWATCH_FAULT_SEED=1795831776
faults: install
	rm -f .wirewatch/fault-matrix.jsonl
	./scripts/test.sh tests/integration/test_faults.py
	$(BIN)/python scripts/fault-matrix.py

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

# Regenerate the derived files that tests check for staleness.
schemas: install
	$(BIN)/python -m schemas.export

# The README's generated blocks: the settings table and the example alerts.
readme: install
	$(BIN)/python scripts/readme.py

seeds: install
	$(BIN)/python -m seeds.build

clean:
	-$(BIN)/wirewatch broker stop
	rm -rf $(VENV) .wirewatch .pytest_cache .ruff_cache .mypy_cache
