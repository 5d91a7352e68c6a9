"""`manage.py bench` keeps working: a tiny run on PostgreSQL, in a subprocess as an
operator runs it, exits 0, prints its table and drops its scratch database; on SQLite
it refuses with a clear message."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 - our own manage.py, fixed arguments
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _scratch_databases() -> set[str]:
    db = connection.settings_dict
    with psycopg.connect(
        host=db["HOST"] or None,
        port=db["PORT"] or None,
        user=db["USER"] or None,
        password=db["PASSWORD"] or None,
        dbname="postgres",
    ) as admin:
        rows = admin.execute("SELECT datname FROM pg_database WHERE datname LIKE 'nhi_bench_%'")
        return {name for (name,) in rows}


@pytest.mark.postgres
def test_bench_runs_prints_its_table_and_drops_its_scratch_database():
    result = _manage("bench", "--paths", "300", "--samples", "3", env=dict(os.environ))
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    created = [line for line in out.splitlines() if line.startswith("scratch database ")]
    scratch = created[0].split()[2]
    assert scratch.startswith("nhi_bench_"), out
    for header in ("rows", "queries", "api median ms", "api p95 ms", "raw median ms", "raw p95 ms"):
        assert header in out, out
    for scenario in ("status=overdue&owner_team=team-", "status=lapsed", "q=", "cursor="):
        assert scenario in out, out
    assert f"scratch database {scratch} dropped" in out
    assert scratch not in _scratch_databases()


def test_bench_refuses_sqlite(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    result = _manage("bench", "--paths", "300", env={**env, "NHI_VAR_DIR": str(tmp_path)})
    assert result.returncode == 1
    assert "bench measures PostgreSQL only" in result.stderr
    assert not list(tmp_path.glob("*.sqlite3"))


@pytest.mark.postgres
def test_bench_import_prints_rates_and_drops_its_scratch_database():
    result = _manage("bench_import", "--rows", "60", env=dict(os.environ))
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    created = [line for line in out.splitlines() if line.startswith("scratch database ")]
    scratch = created[0].split()[2]
    assert "import_paths (all new)" in out and "created 60" in out, out
    assert "import_paths again (all unchanged)" in out and "unchanged 60" in out, out
    assert "COPY of the same file (yardstick)" in out and "rows/s" in out, out
    assert scratch not in _scratch_databases()
