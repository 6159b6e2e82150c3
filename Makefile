# Two commands do all the set-up: `make run` and `make test` (see README).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

# Test-only keys: tests never touch real data. CI overrides DATABASE_URL for PostgreSQL.
TEST_ENV := SECRET_KEY=test-only-secret-key \
	FIELD_ENCRYPTION_KEYS=dGVzdC1vbmx5LWtleS0wMTIzNDU2Nzg5YWJjZGVmISE= \
	DEBUG=false

.PHONY: install env migrate seed run serve test bench lint format clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

# A development .env with generated keys; never overwritten, so stored secrets stay readable.
.env: | install
	@$(BIN)/python -c "from secrets import token_urlsafe; from cryptography.fernet import Fernet; \
	print('DEBUG=true'); print('SECRET_KEY=' + token_urlsafe(50)); \
	print('FIELD_ENCRYPTION_KEYS=' + Fernet.generate_key().decode())" > .env
	@echo "Wrote .env with generated development keys."

env: .env

migrate: install .env
	$(BIN)/python manage.py migrate --noinput

seed: migrate
	$(BIN)/python manage.py seed_demo

run: seed
	@echo "Serving on http://$(HOST):$(PORT)/ (Ctrl-C to stop)"
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

# The production profile on this machine: DEBUG off, static files collected (WhiteNoise serves
# them), migrations applied, the deploy checks (a wrong FIELD_ENCRYPTION_KEYS stops it here),
# then gunicorn (config/gunicorn.conf.py) on $(HOST):$(PORT). Reads .env (`make run` writes
# one) or the environment, which wins: SECRET_KEY and FIELD_ENCRYPTION_KEYS are required.
serve: install
	env DEBUG=false $(BIN)/python manage.py collectstatic --noinput --verbosity 0
	env DEBUG=false $(BIN)/python manage.py migrate --noinput
	env DEBUG=false $(BIN)/python manage.py check --deploy --fail-level ERROR
	@echo "Serving the production profile on http://$(HOST):$(PORT)/ (Ctrl-C to stop)"
	env DEBUG=false GUNICORN_BIND=$(HOST):$(PORT) $(BIN)/gunicorn --config config/gunicorn.conf.py config.wsgi

test: install
	env $(TEST_ENV) $(BIN)/pytest $(PYTEST_ARGS)

# Latency and SQL count per API operation, in-process, on a throw-away SQLite file.
bench: install
	env $(TEST_ENV) $(BIN)/python tests/benchmarks/bench_api.py

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles .pytest_cache
