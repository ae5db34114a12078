# `make test` and `make run` work on a fresh machine with only Python 3.11.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
PYTEST_ARGS ?=
XDIST ?= -n 2
# The browser test drives Debian's Chromium; `make test` installs it when it is missing.
CHROMIUM ?= /usr/bin/chromium
export CHROMIUM

.PHONY: test test-sqlite test-postgresql lint run sandbox browser alertmanager fonts messages bench clean

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

## browser: install Chromium (and fonts for readable screenshots) unless it is there
browser:
	@test -x "$(CHROMIUM)" && exit 0; \
	if [ "$$(id -u)" = 0 ]; then sudo=""; \
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; \
	else echo "warning: no Chromium at $(CHROMIUM) and no root to install it: browser tests will be skipped"; exit 0; fi; \
	if ! command -v apt-get >/dev/null 2>&1; then \
		echo "warning: no apt-get to install Chromium: browser tests will be skipped (set CHROMIUM=...)"; exit 0; fi; \
	echo "installing Chromium for the browser test"; \
	$$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		chromium fonts-wqy-microhei fonts-noto-color-emoji >/dev/null || \
	echo "warning: installing Chromium failed: browser tests will be skipped"

## alertmanager: install Debian's Prometheus Alertmanager for the alert tests unless it is there
# The tests start their own; the package's service is switched off so it holds no ports.
alertmanager:
	@if [ -n "$$ALERTMANAGER" ]; then test -x "$$ALERTMANAGER" && exit 0; \
	elif command -v prometheus-alertmanager >/dev/null 2>&1 || command -v alertmanager >/dev/null 2>&1; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then sudo=""; \
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; \
	else echo "warning: no Alertmanager and no root to install it: its tests will be skipped (they fail under CI)"; exit 0; fi; \
	if ! command -v apt-get >/dev/null 2>&1; then \
		echo "warning: no apt-get to install prometheus-alertmanager: its tests will be skipped (set ALERTMANAGER=...)"; exit 0; fi; \
	echo "installing prometheus-alertmanager for the alert tests"; \
	$$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		prometheus-alertmanager >/dev/null || \
	echo "warning: installing prometheus-alertmanager failed: its tests will be skipped"; \
	if [ -d /run/systemd/system ]; then \
		$$sudo systemctl disable --now prometheus-alertmanager >/dev/null 2>&1 || true; fi

## fonts: a font with Chinese glyphs for the statistics charts, unless one is there
fonts:
	@command -v fc-list >/dev/null 2>&1 && [ -n "$$(fc-list :lang=zh family)" ] && exit 0; \
	if [ "$$(id -u)" = 0 ]; then sudo=""; \
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; \
	else echo "warning: no Chinese font and no root to install one: charts get English labels"; exit 0; fi; \
	if ! command -v apt-get >/dev/null 2>&1; then \
		echo "warning: no apt-get to install fonts-noto-cjk: charts get English labels"; exit 0; fi; \
	echo "installing fonts-noto-cjk for the statistics charts"; \
	$$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		fonts-noto-cjk fontconfig >/dev/null || \
	echo "warning: installing fonts-noto-cjk failed: charts get English labels"

test-sqlite: $(STAMP) browser alertmanager fonts
	INCIDENT_BOT_TEST_DB=sqlite $(BIN)/pytest $(XDIST) $(PYTEST_ARGS)

test-postgresql: $(STAMP) browser alertmanager fonts
	INCIDENT_BOT_TEST_DB=postgresql $(BIN)/pytest $(XDIST) $(PYTEST_ARGS)

## run: the bot on Telegram when TELEGRAM_BOT_TOKEN is set (environment or .env), else the sandbox
run: $(STAMP) fonts
	@if [ -n "$$TELEGRAM_BOT_TOKEN" ] || grep -Eqs '^[[:space:]]*TELEGRAM_BOT_TOKEN[[:space:]]*=[[:space:]]*[^[:space:]]' .env; then \
		exec $(BIN)/incident-bot run; \
	else \
		echo "TELEGRAM_BOT_TOKEN is not set: starting the sandbox instead (incident-bot sandbox)."; \
		exec $(BIN)/incident-bot sandbox; \
	fi

## sandbox: the bot, a ready office and a web chat on http://127.0.0.1:8080 (no Telegram)
sandbox: $(STAMP) fonts
	$(BIN)/incident-bot sandbox $(SANDBOX_ARGS)

## messages: refresh the catalogs after changing texts, then translate what is new
messages: $(STAMP)
	$(BIN)/python -m messages.catalog update

## bench: the four benchmarks against the emulator (JSON on stdout, kept in benchmarks/results/)
bench: $(STAMP)
	$(BIN)/python -m benchmarks $(BENCH)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
