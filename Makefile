# One command each for the README's two promises. Both create .venv/ on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint setup-demo setup-test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

setup-demo: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[demo]"

setup-test: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test,demo]"

# The main job on the shipped demo: incident_cases/ against the bundled models.
demo: setup-demo
	$(BIN)/python -m pytest --incident-cases

# The test suite, on two workers.
test: setup-test
	$(BIN)/python -m pytest -n 2

# Lint and type checks CI enforces: ruff (its default rules), ruff's formatter and mypy.
lint: setup-test
	$(BIN)/python -m pip install --quiet -e ".[lint]"
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy pytest_airecovery
