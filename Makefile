# The two commands of the README: `make run` (the service with demo data) and `make test` (the whole suite).
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
HOST ?= 127.0.0.1:8000
# `make run HOST=127.0.0.1:9000`: receipts' `iss` and the demo's banner name the address actually served, unless
# KYODAKU_BASE_URL is set in the environment or in .env (a deployment's public URL wins).
BASE_URL_ENV := $(if $(KYODAKU_BASE_URL)$(shell grep -s '^KYODAKU_BASE_URL=' .env),,KYODAKU_BASE_URL=http://$(HOST))

.PHONY: run test install install-dev migrate seed lint audit worker schema messages clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/activate
	$(BIN)/pip install --quiet -r requirements.txt

install-dev: $(BIN)/activate
	$(BIN)/pip install --quiet -r requirements-dev.txt

migrate: install
	$(PY) manage.py migrate --noinput

seed: migrate
	$(BASE_URL_ENV) $(PY) manage.py seed_demo

run: seed
	$(PY) manage.py compile_translations -v0
	$(BASE_URL_ENV) $(PY) manage.py runserver $(HOST)

test: install-dev
	$(PY) manage.py compile_translations -v0
	$(PY) manage.py makemigrations --check --dry-run --settings=config.settings.test
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/pytest $(PYTEST_ARGS)

worker: install
	DJANGO_SETTINGS_MODULE=$${DJANGO_SETTINGS_MODULE:-config.settings.local} \
		$(BIN)/celery -A config worker --loglevel=INFO --concurrency=2

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/lint-imports

audit: install-dev
	$(PY) .ci/audit_dependencies.py

clean:
	rm -rf $(VENV) db.sqlite3 media var staticfiles test-artifacts
