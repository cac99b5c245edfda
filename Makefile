# Settle: `make run` serves a demo on http://127.0.0.1:8000, `make test` runs every check.
# Both create .venv with python3 on first use and reinstall only when pyproject.toml changes.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SETTLE := $(BIN)/settle

.PHONY: run test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Stamp files inside .venv record which extras were installed against which pyproject.toml.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test,rasa]'
	touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	$(SETTLE) init
	$(SETTLE) db upgrade
	$(SETTLE) seed --if-empty
	$(SETTLE) train --if-stale
	$(SETTLE) serve --host 127.0.0.1 --port 8000

test: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest

bench: $(VENV)/.installed-test
	$(BIN)/python bench/run.py

clean:
	rm -rf var .venv
