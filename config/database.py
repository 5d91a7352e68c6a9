"""The database settings, read from the environment (config/settings.py applies them):
SQLite by default, PostgreSQL through DATABASE_URL, each with the options this
application relies on (docs/OPERATIONS.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.env import env_int, env_str


def database_config(var_dir: Path) -> dict[str, Any]:
    """The default database from DATABASE_URL (postgres:// or sqlite://), or the
    embedded SQLite file under `var_dir` when it is unset."""
    url = env_str("DATABASE_URL")
    if not url:
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(var_dir / "nhi-registry.sqlite3"),
            # WAL lets readers run beside the single writer; IMMEDIATE takes the write lock at
            # BEGIN so two writers queue (busy timeout) instead of failing at their first write.
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": (
                    "PRAGMA journal_mode=WAL;"
                    "PRAGMA synchronous=NORMAL;"
                    "PRAGMA foreign_keys=ON;"
                    "PRAGMA busy_timeout=20000;"
                ),
            },
        }
    config: dict[str, Any] = dict(
        dj_database_url.parse(url, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))
    )
    if config["ENGINE"] not in (
        "django.db.backends.postgresql",
        "django.db.backends.sqlite3",
    ):
        raise ImproperlyConfigured("DATABASE_URL must be a postgres:// or sqlite:// URL.")
    # Persistent connections (DB_CONN_MAX_AGE seconds, default 60), one per thread that
    # serves requests: gunicorn needs WEB_CONCURRENCY x GUNICORN_THREADS of them (24 by
    # default), a Celery worker one per process. Checked before reuse, so a connection the
    # server dropped (a restart, a failover) costs a reconnect, never an error page.
    config["CONN_HEALTH_CHECKS"] = True
    if config["ENGINE"] == "django.db.backends.postgresql":
        # Connecting has a deadline too: a database host that does not answer fails the
        # request (503) or the readiness check within seconds, it never hangs it.
        config.setdefault("OPTIONS", {}).setdefault(
            "connect_timeout", env_int("DB_CONNECT_TIMEOUT_SECONDS", 5)
        )
    if config["ENGINE"] == "django.db.backends.postgresql":
        # No JIT compilation: the application's queries are short (a page, a count over
        # an index), and PostgreSQL's JIT spent more compiling them than it saved (3.5 s
        # of a 13 s dashboard request at a million paths; see docs/performance.md).
        flags = ["-c jit=off"]
        # A per-statement deadline, set by config/gunicorn_conf.py for the web processes
        # only (25 s, inside gunicorn's 30 s): threaded workers keep heartbeating while a
        # request waits, so the database bounds what a request may wait for.
        statement_timeout_ms = env_int("DB_STATEMENT_TIMEOUT_MS", 0)
        if statement_timeout_ms:
            flags.append(f"-c statement_timeout={statement_timeout_ms}")
        options = config.setdefault("OPTIONS", {})
        given = options.get("options", "")  # e.g. from DATABASE_URL's ?options=
        options["options"] = " ".join([given, *flags]).strip()
    return config
