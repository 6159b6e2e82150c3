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

.PHONY: install env migrate seed run serve test bench lint format clean lock audit sbom mutation \
	openapi-lint

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Dependencies come from the lock files only, every file checked against its hash; then the
# project itself, without dependencies: a fresh machine and CI run exactly the reviewed
# versions (README: Dependencies). A dependency in pyproject.toml that the lock lacks (or
# pins outside its range) stops the install: run `make lock`.
$(VENV)/.locked: requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes -r requirements-dev.txt
	touch $@

$(VENV)/.installed: $(VENV)/.locked pyproject.toml
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	@if $(BIN)/pip check | grep '^integration-registry '; then \
	  echo "pyproject.toml asks for what requirements*.txt lack: run 'make lock'."; exit 1; fi
	touch $@

install: $(VENV)/.installed

# Re-resolve the lock files from pyproject.toml, keeping every pin that still fits; with
# UPGRADE=1 every package moves to its newest allowed version, with UPGRADE_PACKAGES="django
# cryptography" only those. requirements.txt is what production installs; requirements-dev.txt
# adds the dev tools, with the same versions of everything they share.
LOCK_OPTIONS := --quiet --generate-hashes --strip-extras --allow-unsafe --all-build-deps \
	--no-emit-index-url --no-emit-find-links \
	$(if $(UPGRADE),--upgrade) $(foreach p,$(UPGRADE_PACKAGES),--upgrade-package $(p))
lock: $(VENV)/.locked
	$(BIN)/pip-compile $(LOCK_OPTIONS) -o requirements.txt pyproject.toml
	$(BIN)/pip-compile $(LOCK_OPTIONS) --extra dev -c requirements.txt \
	  -o requirements-dev.txt pyproject.toml

# Known vulnerabilities in the locked set (pip-audit); an unreachable advisory service warns.
audit: $(VENV)/.locked
	$(BIN)/python .ci/audit.py

# A CycloneDX SBOM of what production installs (requirements.txt), with hashes.
sbom: $(VENV)/.locked
	@mkdir -p artifacts
	$(BIN)/cyclonedx-py requirements --pyproject pyproject.toml --of JSON \
	  --output-reproducible -o artifacts/sbom.cdx.json requirements.txt
	@echo "Wrote artifacts/sbom.cdx.json"

# Mutation testing of the core modules (tests/mutation/config.toml), not part of `make test`:
# slow (tens of minutes on 2 cores). MUTATION_ARGS="--modules tenants/tokens.py" for some;
# MUTATION_DATABASE_URL=postgres://... to run the locking mutants too.
mutation: install
	$(BIN)/python tests/mutation/run.py $(MUTATION_ARGS)

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

# Throughput of the app under gunicorn (production config) against a bare WSGI floor and a
# bare Django floor, driven by wrk, on PostgreSQL: 10,000 tenants, medians of 5 interleaved
# rounds, under 10 minutes on 2 cores; writes bench/results.json (README: Benchmark). Needs
# wrk (apt-get install wrk) and a PostgreSQL server: BENCH_DATABASE_URL, else DATABASE_URL's
# server, else registry:registry@127.0.0.1:5432; its database registry_bench is dropped and
# re-created. `make bench-quick`: the same in about a minute (1,000 tenants, one short round).
.PHONY: bench-quick bench-inprocess
bench: install
	$(BIN)/python -m bench.run $(BENCH_ARGS)

bench-quick: install
	$(BIN)/python -m bench.run --quick $(BENCH_ARGS)

# Before/after of a change in one run: this tree against BASE (a git revision, checked out in
# a temporary worktree), both under gunicorn on one seeded database, alternating, 5 rounds of
# the API operations; after/before req/s and worker CPU per request, medians over rounds.
# Writes bench/compare.json. `make bench-compare BASE=HEAD~1 BENCH_ARGS="--ops get_one"`.
# BASE reaches the shell as an environment variable, never as recipe text: a branch name may
# hold quotes or backticks. (make itself expands a command-line value written in its own
# syntax, `$(shell ...)`, in any Makefile; git allows no blank in a branch name, so none is.)
.PHONY: bench-compare
bench-compare: export BENCH_BASE = $(value BASE)
bench-compare: install
	@test -n "$$BENCH_BASE" || { echo "usage: make bench-compare BASE=<git revision>"; exit 2; }
	$(BIN)/python -m bench.compare --base "$$BENCH_BASE" $(BENCH_ARGS)

# How near the stack lets the API come to its floor: each layer (the app's settings and
# middleware, DRF with the app's token authentication, each with and without the audit row;
# the audited one also without DRF's view) doing only the floor's one statement, against
# the floors and the app, in one run of about 5 minutes; writes bench/layers.json. `make bench-layers BENCH_ARGS="--ops get_one"`.
.PHONY: bench-layers
bench-layers: install
	$(BIN)/python -m bench.layers $(BENCH_ARGS)

# Latency and SQL count per API operation, in-process, on a throw-away SQLite file.
bench-inprocess: install
	env $(TEST_ENV) $(BIN)/python tests/benchmarks/bench_api.py

# The OpenAPI document as served (/1.0/openapi.json), linted by Redocly (.redocly.yaml) and
# Spectral's `oas` ruleset (.spectral.yaml), pinned, from the npm registry via npx (Node 18+):
# any error or warning fails. The document is written to artifacts/openapi.json.
REDOCLY_CLI := @redocly/cli@1.34.20
SPECTRAL_CLI := @stoplight/spectral-cli@6.16.3
NPX := env REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true NO_UPDATE_NOTIFIER=1 \
	npm_config_update_notifier=false npx --yes
openapi-lint: install
	@mkdir -p artifacts
	env $(TEST_ENV) $(BIN)/python manage.py spectacular --format openapi-json --validate \
	  --fail-on-warn --file artifacts/openapi.json
	$(NPX) $(REDOCLY_CLI) lint --config .redocly.yaml artifacts/openapi.json
	$(NPX) $(SPECTRAL_CLI) lint --ruleset .spectral.yaml --fail-severity warn \
	  artifacts/openapi.json

# ruff (lint and format) over everything; mypy with the Django and DRF plugins over the app
# ([tool.mypy] in pyproject.toml): the plugin imports the settings, hence the test keys.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	env $(TEST_ENV) $(BIN)/mypy config tenants integrations

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles .pytest_cache .mypy_cache
