#!/usr/bin/env bash
# The whole suite, as `make test` and CI run it.
#
# 1. ruff (lint and format), mypy (configured in pyproject.toml) and
#    `makemigrations --check`.
# 2. The suite on SQLite (the embedded default).
# 3. The suite on PostgreSQL: DATABASE_URL if it points at PostgreSQL, else the local
#    server at 127.0.0.1:5432. Without a reachable server the pass is skipped and says
#    so, unless NHI_REQUIRE_POSTGRES=1 (set by CI), which makes it mandatory.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
PYTEST_ARGS=(-n "${NHI_TEST_WORKERS:-2}" "$@")

echo "== lint"
$PY -m ruff check .
$PY -m ruff format --check .
$PY -m mypy
env -u DATABASE_URL $PY manage.py makemigrations --check --dry-run

echo "== tests on SQLite"
env -u DATABASE_URL NHI_EXPECT_DB=sqlite $PY -m pytest "${PYTEST_ARGS[@]}"

PG_URL="${DATABASE_URL:-}"
case "$PG_URL" in
  postgres://*|postgresql://*) ;;
  *) PG_URL="postgres://postgres@127.0.0.1:5432/nhi_registry" ;;
esac
if $PY - "$PG_URL" <<'PYCHECK'
import sys
import psycopg
from dj_database_url import parse
cfg = parse(sys.argv[1])
try:
    psycopg.connect(host=cfg["HOST"], port=cfg["PORT"] or 5432, user=cfg["USER"],
                    password=cfg["PASSWORD"] or None, dbname="postgres", connect_timeout=3).close()
except psycopg.OperationalError as exc:
    print(f"PostgreSQL unreachable: {exc}".strip(), file=sys.stderr)
    sys.exit(1)
PYCHECK
then
  echo "== tests on PostgreSQL ($PG_URL)"
  DATABASE_URL="$PG_URL" NHI_EXPECT_DB=postgresql $PY -m pytest "${PYTEST_ARGS[@]}"
elif [ "${NHI_REQUIRE_POSTGRES:-0}" = "1" ]; then
  echo "FAILED: NHI_REQUIRE_POSTGRES=1 but PostgreSQL at $PG_URL is unreachable." >&2
  exit 1
else
  echo "SKIPPED: the PostgreSQL pass (no server at $PG_URL; set DATABASE_URL to run it)."
fi
