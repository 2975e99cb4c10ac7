# One command runs everything, one runs the tests. See README.md.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench lint migrate clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python requirements.txt requirements-dev.txt
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

migrate: $(STAMP)
	$(BIN)/python manage.py migrate --noinput

run: $(STAMP)
	$(BIN)/python manage.py run_stack --migrate --seed

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python bench/routing.py
	$(BIN)/python bench/intake.py
	$(BIN)/python bench/roundtrip.py
	$(BIN)/python bench/queue_page.py
	$(BIN)/python bench/sweep.py
	$(BIN)/python bench/audit_export.py
	$(BIN)/python bench/calibration.py
	$(BIN)/python bench/dashboard.py
	$(BIN)/python bench/decision_quality.py
	$(BIN)/python bench/adapters.py
	$(BIN)/python bench/mcp_roundtrip.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) var staticfiles
