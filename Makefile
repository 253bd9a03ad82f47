# The two commands: `make run` and `make test`. Both set themselves up.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt

.PHONY: run test lint typecheck pytest install clean system-deps

$(VENV)/.python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "oncall needs Python 3.11 or newer as $(PYTHON) (set PYTHON=...)"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@touch $@

$(VENV)/.installed-run: $(VENV)/.python pyproject.toml constraints.txt
	$(PIP) -e .
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed-run
	$(PIP) -e '.[dev]'
	@touch $@

install: $(VENV)/.installed-dev

run: $(VENV)/.installed-run
	$(PY) manage.py runstack

lint: $(VENV)/.installed-dev
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/lint-imports --no-cache
	$(PY) manage.py makemigrations --check --dry-run >/dev/null || { echo "models changed without a migration: run manage.py makemigrations"; exit 1; }

typecheck: $(VENV)/.installed-dev
	$(PY) -m mypy oncall rotations escalation

system-deps:
	@scripts/system-deps.sh

pytest: $(VENV)/.installed-dev system-deps
	$(PY) scripts/testenv.py -- $(PY) -m pytest $(PYTEST_ARGS)

test: lint typecheck pytest

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
