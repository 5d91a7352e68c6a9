#!/usr/bin/env python3
"""Prove that a backup of the registry restores: dump, restore, verify, compare, clean up.

    .venv/bin/python scripts/backup_check.py [--output FILE] [--anchors DIR]
    make backup-check

PostgreSQL only (the database DATABASE_URL names; a SQLite file is backed up by copying
it while nothing runs). In order:

1. copies the anchor sink's anchors.jsonl (NHI_AUDIT_ANCHOR_DIR, or --anchors) aside,
   before anything else: every statement in the copy signs a head already committed,
   so the dump taken next contains it;
2. opens a REPEATABLE READ transaction on the source, exports its snapshot and counts
   the rows of every table of the schema in it;
3. `pg_dump -Fc --snapshot=…`: the dump is exactly what was counted, however busy the
   registry is meanwhile;
4. creates a scratch database on the same server (`nhi_restore_check_<time>_<random>`)
   and `pg_restore --no-owner --no-privileges --single-transaction --exit-on-error`
   into it (objects belong to the role running the check: it needs CREATEDB and read
   access to every table; run it as the schema owner, not as the app role);
5. counts the rows of every table of the restored database: they must equal step 2;
6. runs `manage.py verify_audit` against the restored database, with `--anchors` on the
   copied sink when there is one (the signing key configured, or --public-key);
7. drops the scratch database (`DROP DATABASE … WITH (FORCE)`), whatever happened.

Exit status 0 when every check passed, 1 when one failed, 2 when it could not run.
Every step has a deadline (--step-timeout, default 1800 s). Passwords go to the client
programs through the environment (PGPASSWORD), never their argument lists.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
SCRATCH_PREFIX = "nhi_restore_check_"
ANCHORS_FILE = "anchors.jsonl"


class CheckFailed(Exception):
    """A check ran and found the backup wanting (exit 1)."""


class CannotRun(Exception):
    """The check could not run at all (exit 2)."""


def say(message: str) -> None:
    print(f"backup-check: {message}", flush=True)


# --- configuration (the registry's own settings: DATABASE_URL, .env, anchors) -----------


def registry_settings():  # -> django.conf.LazySettings
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.conf import settings

    settings.DATABASES  # noqa: B018 - loads (and validates) the settings now
    return settings


def libpq_environment(database: Mapping[str, object], name: str) -> dict[str, str]:
    """The environment pg_dump, pg_restore and psycopg read the connection from."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update({"PGDATABASE": name, "PGCONNECT_TIMEOUT": "10"})
    for key, variable in (("HOST", "PGHOST"), ("PORT", "PGPORT"), ("USER", "PGUSER")):
        if database.get(key):
            env[variable] = str(database[key])
    if database.get("PASSWORD"):
        env["PGPASSWORD"] = str(database["PASSWORD"])
    options = database.get("OPTIONS") or {}
    if isinstance(options, Mapping) and options.get("sslmode"):
        env["PGSSLMODE"] = str(options["sslmode"])
    return env


def database_url(database: Mapping[str, object], name: str) -> str:
    """DATABASE_URL for the restored database (given to manage.py in its environment)."""
    auth = quote(str(database.get("USER") or ""), safe="")
    if database.get("PASSWORD"):
        auth += ":" + quote(str(database["PASSWORD"]), safe="")
    host = quote(str(database.get("HOST") or "localhost"), safe="")
    port = f":{database['PORT']}" if database.get("PORT") else ""
    return f"postgres://{auth}@{host}{port}/{quote(name, safe='')}"


# --- the steps ---------------------------------------------------------------------------


def run(command: list[str], *, env: Mapping[str, str], timeout: int) -> str:
    """Run one client program; its output, or CheckFailed naming it and its error."""
    try:
        done = subprocess.run(  # noqa: S603 - fixed programs, arguments built here
            command, env=dict(env), capture_output=True, text=True, timeout=timeout, cwd=ROOT
        )
    except subprocess.TimeoutExpired as exc:
        raise CheckFailed(f"{Path(command[0]).name} did not finish within {timeout} s") from exc
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip()
        raise CheckFailed(f"{' '.join(command[:3])} failed ({done.returncode}): {output}")
    return done.stdout


def copy_anchors(source: Path | None, workdir: Path) -> Path | None:
    """anchors.jsonl copied as it is now, beside a link to the (immutable) segments."""
    if source is None:
        return None
    anchors = source / ANCHORS_FILE if source.is_dir() else source
    if not anchors.exists():
        return None
    copy = workdir / "anchors"
    copy.mkdir()
    shutil.copyfile(anchors, copy / ANCHORS_FILE)
    segments = anchors.parent / "segments"
    if segments.is_dir():
        (copy / "segments").symlink_to(segments.resolve(), target_is_directory=True)
    return copy


def table_counts(cursor) -> dict[str, int]:
    """Rows of every table in the schema the registry uses, in the cursor's snapshot."""
    from psycopg import sql

    cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1")
    counts = {}
    for (table,) in cursor.fetchall():
        cursor.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
        counts[table] = cursor.fetchone()[0]
    return counts


@contextmanager
def exported_snapshot(env: Mapping[str, str], timeout: int) -> Iterator[tuple[str, dict]]:
    """(snapshot id, row counts) of one REPEATABLE READ transaction, held open while the
    block runs so that pg_dump can take the very same snapshot."""
    import psycopg

    with psycopg.connect("", **_connect_args(env, timeout)) as conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        with conn.cursor() as cursor:
            cursor.execute("SELECT pg_export_snapshot()")
            (snapshot,) = cursor.fetchone()
            counts = table_counts(cursor)
        yield snapshot, counts
        conn.rollback()


def _connect_args(env: Mapping[str, str], timeout: int, dbname: str | None = None) -> dict:
    args: dict = {
        "host": env.get("PGHOST"),
        "port": env.get("PGPORT"),
        "user": env.get("PGUSER"),
        "password": env.get("PGPASSWORD"),
        "dbname": dbname or env["PGDATABASE"],
        "connect_timeout": 10,
        # Every statement has a deadline too (milliseconds).
        "options": f"-c statement_timeout={timeout * 1000}",
    }
    if env.get("PGSSLMODE"):
        args["sslmode"] = env["PGSSLMODE"]
    return {k: v for k, v in args.items() if v is not None}


def counts_in(env: Mapping[str, str], timeout: int, dbname: str) -> dict[str, int]:
    import psycopg

    with psycopg.connect("", **_connect_args(env, timeout, dbname)) as conn, conn.cursor() as cur:
        return table_counts(cur)


@contextmanager
def scratch_database(env: Mapping[str, str], timeout: int, maintenance_db: str) -> Iterator[str]:
    """A fresh, uniquely named database on the source's server, dropped at the end."""
    import psycopg
    from psycopg import sql

    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S")
    name = f"{SCRATCH_PREFIX}{stamp}_{secrets.token_hex(4)}"
    args = _connect_args(env, timeout, maintenance_db)
    with psycopg.connect("", autocommit=True, **args) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
    say(f"created scratch database {name}")
    try:
        yield name
    finally:
        with psycopg.connect("", autocommit=True, **args) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
        say(f"dropped scratch database {name}")


def compare(source: dict[str, int], restored: dict[str, int]) -> None:
    differences = [
        f"{table}: {source.get(table, 'missing')} in the source, "
        f"{restored.get(table, 'missing')} restored"
        for table in sorted(set(source) | set(restored))
        if source.get(table) != restored.get(table)
    ]
    if differences:
        raise CheckFailed("row counts differ: " + "; ".join(differences))
    say(f"row counts match: {len(source)} tables, {sum(source.values())} rows")


def verify_restored(
    database: Mapping[str, object], name: str, anchors: Path | None, public_key: Path | None,
    timeout: int,
) -> None:  # fmt: skip
    command = [sys.executable, str(ROOT / "manage.py"), "verify_audit"]
    if anchors is not None:
        command += ["--anchors", str(anchors)]
        if public_key is not None:
            command += ["--public-key", str(public_key)]
    env = {**os.environ, "DATABASE_URL": database_url(database, name)}
    for line in run(command, env=env, timeout=timeout).splitlines():
        say(f"restored: {line}")
    if anchors is None:
        say("no anchors.jsonl in the anchor directory: the anchor check was not run")


def check(args: argparse.Namespace) -> None:
    settings = registry_settings()
    database = settings.DATABASES["default"]
    if database["ENGINE"] != "django.db.backends.postgresql":
        raise CannotRun(
            "PostgreSQL only: DATABASE_URL selects SQLite. Back a SQLite file up by copying "
            "it (with its -wal file) while nothing runs."
        )
    for program in ("pg_dump", "pg_restore"):
        if shutil.which(program) is None:
            raise CannotRun(f"{program} is not installed (PostgreSQL client programs)")
    env = libpq_environment(database, str(database["NAME"]))
    timeout = args.step_timeout
    anchor_source = args.anchors or Path(settings.NHI_AUDIT_ANCHOR_DIR)
    with tempfile.TemporaryDirectory(prefix="nhi-backup-check-") as tmp:
        workdir = Path(tmp)
        anchors = copy_anchors(anchor_source, workdir)
        dump = args.output or workdir / "registry.dump"
        with exported_snapshot(env, timeout) as (snapshot, source_counts):
            run(
                ["pg_dump", "--format=custom", f"--snapshot={snapshot}", f"--file={dump}"],
                env=env,
                timeout=timeout,
            )
        say(f"dumped {database['NAME']} to {dump} ({dump.stat().st_size} bytes)")
        with scratch_database(env, timeout, args.maintenance_db) as scratch:
            restore = [
                "pg_restore", "--no-owner", "--no-privileges", "--single-transaction",
                "--exit-on-error", f"--dbname={scratch}", str(dump),
            ]  # fmt: skip
            run(restore, env=env, timeout=timeout)
            say(f"restored into {scratch}")
            compare(source_counts, counts_in(env, timeout, scratch))
            verify_restored(database, scratch, anchors, args.public_key, timeout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, help="keep the dump in FILE (default: removed)")
    parser.add_argument(
        "--anchors", type=Path, help="anchor sink to check against (default NHI_AUDIT_ANCHOR_DIR)"
    )
    parser.add_argument("--public-key", type=Path, help="PEM public key of the anchor key")
    parser.add_argument(
        "--maintenance-db", default="postgres", help="database to connect to for CREATE/DROP"
    )
    parser.add_argument("--step-timeout", type=int, default=1800, help="seconds per step")
    args = parser.parse_args(argv)
    import psycopg

    try:
        check(args)
    except psycopg.Error as exc:  # the server refused or went away: say what it said
        say(f"FAILED: PostgreSQL: {str(exc).strip()}")
        return 1
    except CannotRun as exc:
        say(f"CANNOT RUN: {exc}")
        return 2
    except CheckFailed as exc:
        say(f"FAILED: {exc}")
        return 1
    say("OK: the backup restores, its audit chain verifies and its row counts match")
    return 0


if __name__ == "__main__":
    sys.exit(main())
