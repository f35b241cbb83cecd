# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: run soak test test-fast test-sqlite api-fuzz lint fmt clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed-run

# Embedded setup: SQLite and a broker on local files under var/, demo data and a login.
run: export DEBUG := true
run: export WEBHOOKS_ALLOWED_NETWORKS := 127.0.0.0/8
run: $(VENV)/.installed-run
	$(BIN)/python manage.py migrate --noinput -v0
	$(BIN)/python manage.py load_demo
	$(BIN)/python manage.py load_demo_audience
	$(BIN)/honcho -f config/Procfile -d . start

# `make run` left up with its demo traffic for SOAK_MINUTES, watched: a line every five
# minutes and a verdict at the end (the log is var/soak/make-run.log).
SOAK_MINUTES ?= 120
soak: export DEBUG := true
soak: $(VENV)/.installed-run
	$(BIN)/python manage.py soak --minutes $(SOAK_MINUTES)

# Test processes side by side (pytest-xdist), each with its own test database and Redis
# database (tests/support/parallel.py); worksteal keeps both busy to the end although a
# few tests take minutes. TEST_PROCESSES=0 runs every test in one process, in order.
TEST_PROCESSES ?= 2
PARALLEL := -n $(TEST_PROCESSES) --dist worksteal

# The whole suite against PostgreSQL and Redis (started here if installed but down),
# then the segment and profile tests again on SQLite, which `make run` uses.
test: $(VENV)/.installed-dev
	bash .ci/with-services $(BIN)/pytest $(PARALLEL) $(PYTEST_ARGS)
	$(MAKE) --no-print-directory test-sqlite

# The loop while working: the suite without Chromium and without real Celery workers,
# on PostgreSQL and Redis as `make test`.
test-fast: $(VENV)/.installed-dev
	bash .ci/with-services $(BIN)/pytest $(PARALLEL) -m "not browser and not worker" $(PYTEST_ARGS)

test-sqlite: $(VENV)/.installed-dev
	mkdir -p var && rm -f var/test-sqlite.sqlite3
	DATABASE_URL=sqlite:///$(CURDIR)/var/test-sqlite.sqlite3 DEBUG=true \
	  $(BIN)/pytest -p no:cacheprovider $(PARALLEL) tests/campaigns -m "not browser and not worker" \
	  $(SQLITE_PYTEST_ARGS)

# schemathesis with every check against the JSON API (DEBUG off, gunicorn, PostgreSQL).
api-fuzz: $(VENV)/.installed-dev
	bash .ci/with-services bash .ci/api-fuzz

lint: $(VENV)/.installed-dev
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache
	DEBUG=true $(BIN)/python manage.py makemigrations --check --dry-run

fmt: $(VENV)/.installed-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf var
