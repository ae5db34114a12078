# `make test` and `make run` work on a fresh machine with only Python 3.11.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
PYTEST_ARGS ?=
XDIST ?= -n 2

.PHONY: test test-sqlite test-postgresql lint run sandbox messages bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

## test: install everything, lint, type-check, run the suite on SQLite and PostgreSQL
test: $(STAMP) lint test-sqlite test-postgresql

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m messages.catalog check

test-sqlite: $(STAMP)
	INCIDENT_BOT_TEST_DB=sqlite $(BIN)/pytest $(XDIST) $(PYTEST_ARGS)

test-postgresql: $(STAMP)
	INCIDENT_BOT_TEST_DB=postgresql $(BIN)/pytest $(XDIST) $(PYTEST_ARGS)

## run: migrate the database and start the bot
run: $(STAMP)
	$(BIN)/incident-bot run

## messages: refresh the catalogs after changing texts, then translate what is new
messages: $(STAMP)
	$(BIN)/python -m messages.catalog update

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
