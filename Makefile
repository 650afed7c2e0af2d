# Two commands matter: `make run` and `make test`. Everything else helps them.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements-dev.lock | sha1sum | cut -c1-12)

.PHONY: run test bench drill setup lint format migrate check lock clean

# Every package pinned and checked against the lock's hashes: what is installed is
# exactly what was locked, wherever it is downloaded from.
$(STAMP): requirements-dev.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r requirements-dev.lock
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

setup: $(STAMP)

## Set up and run everything (web on 127.0.0.1:8000, worker, beat) with demo data.
run: setup
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	@echo "Demo article: http://127.0.0.1:8000/articles/science-behind-antidepressants/"
	@echo "Console:      http://127.0.0.1:8000/console/   Dev outbox: http://127.0.0.1:8000/dev/outbox/"
	$(BIN)/honcho -f Procfile.dev start

## Set up and run every test: lint, format check, migrations check, structure check, pytest.
test: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	DJANGO_ENV=test $(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/python scripts/structure_report.py --check --no-duplicates
	$(BIN)/python scripts/run_tests.py $(PYTEST_ARGS)

## Run every benchmark (PostgreSQL and Redis on 127.0.0.1) and print one table of
## figure, measured, target, met; writes docs/benchmarks.md with the machine's description.
## `make bench QUICK=1`: tiny sizes in seconds (writes var/bench/benchmarks-quick.md).
bench: setup
	$(BIN)/python bench/run.py $(if $(QUICK),--quick)

## The failure drill on its own PostgreSQL, Redis, gunicorn, workers and beat (5 minutes;
## DRILL_ARGS=--short for the one-minute CI version). Exits non-zero if a check fails.
drill: setup
	$(BIN)/python bench/drill.py $(DRILL_ARGS)

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format:
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## Regenerate the lock files, with hashes, from pyproject.toml: requirements.lock for
## the image, requirements-dev.lock (the same pins, plus honcho and the test tools) for
## `make`. uv runs from a throwaway venv; versions already locked stay unless
## pyproject.toml needs others. Universal: markers keep any 3.11 on any platform right.
UV_VERSION := 0.13.9
UV_COMPILE := /tmp/clinic-lock/bin/uv pip compile pyproject.toml --universal --python-version 3.11 \
	--generate-hashes --custom-compile-command "make lock" --quiet
lock:
	rm -rf /tmp/clinic-lock && $(PYTHON) -m venv /tmp/clinic-lock
	/tmp/clinic-lock/bin/pip install --quiet uv==$(UV_VERSION)
	$(UV_COMPILE) -o requirements.lock
	$(UV_COMPILE) --extra dev -o requirements-dev.lock

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache .ruff_cache
