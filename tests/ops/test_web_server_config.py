"""The web server's settings (config/gunicorn_conf.py) and the database deadline it sets
for the web processes (DB_STATEMENT_TIMEOUT_MS, read by config/settings.py)."""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys

import psycopg
import pytest
from django.db import connection

from tests.support_processes import ROOT

CONF = str(ROOT / "config" / "gunicorn_conf.py")


def load_conf(env: dict[str, str]) -> dict:
    """gunicorn_conf.py's settings under `env`, leaving this process's environment as it was."""
    saved = dict(os.environ)
    try:
        for key in ("WEB_CONCURRENCY", "GUNICORN_THREADS", "DB_STATEMENT_TIMEOUT_MS"):
            os.environ.pop(key, None)
        os.environ.update(env)
        conf = runpy.run_path(CONF)
        # Loading the file sets nothing: gunicorn applies raw_env in its own processes.
        assert "DB_STATEMENT_TIMEOUT_MS" not in os.environ or "DB_STATEMENT_TIMEOUT_MS" in env
        raw = dict(item.split("=", 1) for item in conf["raw_env"])
        conf["_statement_timeout"] = raw["DB_STATEMENT_TIMEOUT_MS"]
        return conf
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_threaded_workers_with_documented_defaults():
    conf = load_conf({})
    assert conf["worker_class"] == "gthread"
    assert (conf["workers"], conf["threads"]) == (3, 8)
    assert conf["timeout"] == 30 and conf["graceful_timeout"] < conf["timeout"]
    assert conf["max_requests"] > 0 and 0 < conf["max_requests_jitter"] < conf["max_requests"]
    # The database deadline of a web request ends before gunicorn's timeout.
    assert int(conf["_statement_timeout"]) < conf["timeout"] * 1000


def test_workers_and_threads_come_from_the_environment():
    conf = load_conf(
        {"WEB_CONCURRENCY": "2", "GUNICORN_THREADS": "4", "DB_STATEMENT_TIMEOUT_MS": "5000"}
    )
    assert (conf["workers"], conf["threads"]) == (2, 4)
    assert conf["_statement_timeout"] == "5000"  # an operator's value wins


def database_options(env: dict[str, str]) -> dict:
    """DATABASES['default']['OPTIONS'] as config.settings builds it in a fresh process."""
    script = (
        "import json, config.settings as s; "
        "print(json.dumps(s.DATABASES['default'].get('OPTIONS', {})))"
    )
    clean = {k: v for k, v in os.environ.items() if k not in {"DB_STATEMENT_TIMEOUT_MS"}}
    # Trusted argv (no shell): this interpreter importing the project's settings.
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**clean, "DEBUG": "1", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_statement_timeout_reaches_postgresql_connections_only_when_set():
    url = "postgres://nobody@127.0.0.1:5432/nhi"
    with_deadline = database_options({"DATABASE_URL": url, "DB_STATEMENT_TIMEOUT_MS": "25000"})
    assert with_deadline["options"] == "-c jit=off -c statement_timeout=25000"
    # JIT is off for every PostgreSQL connection (the application's queries are short).
    assert database_options({"DATABASE_URL": url})["options"] == "-c jit=off"
    assert "options" not in database_options({"DATABASE_URL": "sqlite:///var/x.sqlite3"})


@pytest.mark.postgres
@pytest.mark.django_db
def test_postgresql_cancels_a_statement_past_the_deadline():
    s = connection.settings_dict
    # The options string exactly as settings builds it, on a connection of its own.
    options = database_options(
        {"DATABASE_URL": "postgres://nobody@127.0.0.1:5432/nhi", "DB_STATEMENT_TIMEOUT_MS": "200"}
    )["options"]
    deadline = psycopg.connect(
        host=s["HOST"] or "127.0.0.1",
        port=s["PORT"] or 5432,
        user=s["USER"] or None,
        password=s["PASSWORD"] or None,
        dbname=s["NAME"],
        options=options,
        connect_timeout=10,
    )
    with deadline as conn, pytest.raises(psycopg.errors.QueryCanceled):
        conn.execute("SELECT pg_sleep(5)")
