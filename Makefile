# The front door: people and CI run the same targets.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)
HOST ?= 127.0.0.1
PORT ?= 8000
PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
# Unset SHIELD_ENV means production (built-in JWT secret and simulated providers refused);
# these targets are for a developer's machine, so they default to development.
SHIELD_ENV ?= development
export SHIELD_ENV

.PHONY: install run test test-sqlite test-postgres lint format migrate reset-demo bench bench-quick bench-scale jobs clean

install: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

## make run: migrate the SQLite file, seed demo data once, print tokens, serve on :8000
run: install
	$(BIN)/flask --app app db upgrade
	$(BIN)/flask --app app shield seed
	SHIELD_CONSOLE_BASE_URL=http://$(HOST):$(PORT) $(BIN)/flask --app app shield demo-tokens
	SHIELD_SCHEDULER=$${SHIELD_SCHEDULER:-inprocess} $(BIN)/flask --app app run --host $(HOST) --port $(PORT) --no-reload --with-threads

## make test: the whole suite (SQLite unless DATABASE_URL points at PostgreSQL)
test: install
	SHIELD_ENV=test $(BIN)/python -m pytest

test-sqlite: install
	env -u DATABASE_URL SHIELD_ENV=test $(BIN)/python -m pytest

test-postgres: install
	DATABASE_URL=$(PG_URL) SHIELD_ENV=test $(BIN)/python -m pytest

## make jobs: the scheduler as its own process (production shape)
jobs: install
	$(BIN)/python -m jobs

## make reset-demo: delete the SQLite demo database and seed it again (stop make run first)
reset-demo: install
	rm -f instance/shield.sqlite3 instance/shield.sqlite3-wal instance/shield.sqlite3-shm
	$(BIN)/flask --app app db upgrade
	$(BIN)/flask --app app shield seed

migrate: install
	$(BIN)/flask --app app db upgrade

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	$(BIN)/python -m bench

bench-quick: install
	$(BIN)/python -m bench --quick

## make bench-scale: 1,000,000 members beside 10,000 (seeds both, ~30 min; SCALE_ARGS=...)
bench-scale: install
	$(BIN)/python -m bench --scale $(SCALE_ARGS)

clean:
	rm -rf $(VENV) instance .pytest_cache
