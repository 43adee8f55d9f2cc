# Shortcuts; the two commands that matter are ./scripts/serve and ./scripts/test (see README).
# Every target uses the project virtualenv in .venv (created with the dev extras on first use).

VENV := .venv/bin
PYTHON ?= python3

.PHONY: run test test-unit test-integration lint format openapi migrate revision bench up

# Same marker as scripts/test, so either one installs and the other reuses it.
.venv/.installed: pyproject.toml
	[ -x $(VENV)/python ] || $(PYTHON) -m venv .venv
	$(VENV)/pip install -q --disable-pip-version-check -e ".[dev]"
	touch $@

run:
	./scripts/serve

test:
	./scripts/test

test-unit: .venv/.installed
	$(VENV)/pytest tests/unit

test-integration:
	./scripts/test -m integration

lint: .venv/.installed
	$(VENV)/ruff check .
	$(VENV)/lint-imports

format: .venv/.installed
	$(VENV)/ruff format .

openapi: .venv/.installed
	$(VENV)/flask --app api.wsgi openapi

migrate: .venv/.installed
	$(VENV)/flask --app api.wsgi db upgrade

revision: .venv/.installed
	@[ -n "$(m)" ] || { echo 'usage: make revision m="add_something"' >&2; exit 2; }
	$(VENV)/flask --app api.wsgi db migrate -m "$(m)"

bench: .venv/.installed
	$(VENV)/python bench/bench_foundation.py

up:
	docker compose up --build
