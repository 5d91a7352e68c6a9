# NHI Registry: the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: run test setup lint format lock clean-db backup-check

# Set up, migrate, load the demo, then serve http://127.0.0.1:8000 with a Celery worker
# and the beat scheduler (embedded SQLite and filesystem broker; Ctrl-C stops all).
run: setup
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	$(PY) scripts/dev.py

# Set up and run the whole suite: lint, migrations check, SQLite pass, PostgreSQL pass.
test: setup
	scripts/run_tests.sh

setup: $(INSTALLED) .env

$(INSTALLED): requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	touch $@

# A development checkout runs with DEBUG on; deployments set the environment instead.
.env:
	printf 'DEBUG=1\n' > .env

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

format: setup
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

# Re-pin the whole dependency tree from pyproject.toml into requirements.lock.
lock:
	rm -rf var/lock-venv && $(PYTHON) -m venv var/lock-venv
	var/lock-venv/bin/python -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; print("\n".join(p["dependencies"] + p["optional-dependencies"]["dev"]))' > var/lock-input.txt
	var/lock-venv/bin/pip install --quiet -r var/lock-input.txt
	var/lock-venv/bin/pip freeze --exclude-editable > requirements.lock
	rm -rf var/lock-venv var/lock-input.txt

# Dump DATABASE_URL (PostgreSQL), restore it into a scratch database, compare row counts,
# run verify_audit (and the anchor check) there, drop it (docs/OPERATIONS.md, backups).
backup-check: setup
	$(PY) scripts/backup_check.py

clean-db:
	rm -f var/nhi-registry.sqlite3 var/nhi-registry.sqlite3-wal var/nhi-registry.sqlite3-shm

# The benchmark (docs/performance.md): BENCH_PATHS paths loaded into a scratch database
# on DATABASE_URL's PostgreSQL server (the local one if unset), every page, list, job and
# import measured next to its yardstick; one table printed, var/bench-<paths>.json
# written, the scratch database dropped. BENCH_ARGS passes more options (--keep,
# --reuse NAME, --sections, --import-rows, --json).
BENCH_PATHS ?= 100000
BENCH_SAMPLES ?= 20
.PHONY: bench
bench: setup
	DATABASE_URL="$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/nhi_registry}" \
		$(PY) manage.py bench --paths $(BENCH_PATHS) --samples $(BENCH_SAMPLES) $(BENCH_ARGS)
