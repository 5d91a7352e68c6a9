"""Least privilege in the database: the role the web app and workers connect as, set up by
`manage.py grant_app_role`, cannot disable the audit table's triggers, rewrite its facts
or hashes, delete or truncate it, yet runs the app.

Every check connects to the test database as a freshly created, uniquely named role
(trust authentication on the test server) and drops it afterwards; no other role is
touched. Roles are cluster-wide, so the names carry a random suffix.
"""

from __future__ import annotations

import io
import os
import secrets
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from psycopg import sql

from registry.models import AuditEvent
from tests.support_processes import ROOT

AUDIT = "registry_auditevent"
CHAIN_HEAD = "registry_auditchainhead"
PURGEABLE = {"actor_label", "changes", "reason", "request_id"}


def on_postgres(test):
    """PostgreSQL only, with committed transactions: grants made by the command must be
    visible to the role's own connection."""
    return pytest.mark.postgres(pytest.mark.django_db(transaction=True)(test))


def unique_role() -> str:
    return f"nhi_test_app_{secrets.token_hex(5)}"


def owner_sql(statement, params=None) -> list[tuple]:
    """Run as the test database's owner (the suite's connection)."""
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


def drop_role(role: str) -> None:
    ident = sql.Identifier(role).as_string(connection.connection)
    owner_sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", [role])
    if owner_sql("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]):
        owner_sql(f"DROP OWNED BY {ident}")
        owner_sql(f"DROP ROLE {ident}")


def connect_as(role: str) -> psycopg.Connection:
    s = connection.settings_dict
    return psycopg.connect(
        host=s["HOST"] or "127.0.0.1",
        port=s["PORT"] or 5432,
        dbname=s["NAME"],
        user=role,
        autocommit=True,
        connect_timeout=10,
    )


def refused(conn: psycopg.Connection, statement: str) -> psycopg.Error:
    """Run `statement` as the role and return the error it must raise."""
    with pytest.raises(psycopg.Error) as caught, conn.cursor() as cursor:
        cursor.execute(statement)
    return caught.value


def scalar(conn: psycopg.Connection, statement: str, params=None):
    with conn.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchone()[0]


def grants_of(role: str) -> list[tuple]:
    """Every privilege the role holds directly in this database, tables and columns."""
    return owner_sql(
        """
        SELECT c.relname, NULL, a.privilege_type
          FROM pg_class c, aclexplode(c.relacl) a
         WHERE a.grantee = (SELECT oid FROM pg_roles WHERE rolname = %(role)s)
        UNION ALL
        SELECT c.relname, att.attname, a.privilege_type
          FROM pg_attribute att JOIN pg_class c ON c.oid = att.attrelid,
               aclexplode(att.attacl) a
         WHERE a.grantee = (SELECT oid FROM pg_roles WHERE rolname = %(role)s)
        ORDER BY 1, 2, 3
        """,
        {"role": role},
    )


@pytest.fixture
def app_role(transactional_db) -> Iterator[str]:
    role = unique_role()
    owner_sql(f"CREATE ROLE {role} LOGIN")
    try:
        yield role
    finally:
        drop_role(role)


@pytest.fixture
def as_app(app_role, personas) -> Iterator[psycopg.Connection]:
    # The personas' setup writes audit events: row triggers would fire on them.
    assert AuditEvent.objects.exists()
    call_command("grant_app_role", app_role, stdout=io.StringIO())
    conn = connect_as(app_role)
    try:
        yield conn
    finally:
        conn.close()


@pytest.mark.parametrize(
    "statement",
    [
        "ALTER TABLE registry_auditevent DISABLE TRIGGER ALL",
        "ALTER TABLE registry_auditevent DISABLE TRIGGER registry_auditevent_no_update_delete",
        "DROP TRIGGER registry_auditevent_no_truncate ON registry_auditevent",
        "DROP TABLE registry_auditevent",
        "ALTER TABLE registry_auditevent ADD COLUMN note text",
        "UPDATE registry_auditevent SET hash = 'x'",
        "UPDATE registry_auditevent SET prev_hash = 'x', seq = seq + 1",
        "UPDATE registry_auditevent SET action = 'x'",
        "DELETE FROM registry_auditevent",
        "TRUNCATE registry_auditevent",
        "DELETE FROM registry_auditchainhead",
        "TRUNCATE registry_auditchainhead",
        "ALTER TABLE registry_auditchainhead DISABLE TRIGGER ALL",
        "CREATE TRIGGER t BEFORE INSERT ON registry_auditevent FOR EACH ROW "
        "EXECUTE FUNCTION registry_audit_refuse_change()",
        "CREATE TABLE registry_shadow (id int)",
        "DELETE FROM django_migrations",
    ],
)
@on_postgres
def test_app_role_cannot_tamper_with_the_audit(as_app, statement):
    error = refused(as_app, statement)
    assert isinstance(error, psycopg.errors.InsufficientPrivilege), repr(error)
    # Refused by privileges, not by the append-only trigger (which says "append-only").
    assert "append-only" not in str(error)


@on_postgres
def test_a_purgeable_column_is_left_to_the_append_only_trigger(as_app):
    # The privilege is there (a purge needs it); the trigger still refuses anything that
    # is not a purge.
    error = refused(as_app, "UPDATE registry_auditevent SET reason = 'rewritten'")
    assert "append-only" in str(error), repr(error)


@on_postgres
def test_even_the_test_databases_truncate_switch_does_not_help(as_app):
    with as_app.cursor() as cursor:
        cursor.execute("SET nhi.allow_audit_truncate = 'on'")
    error = refused(as_app, f"TRUNCATE {AUDIT}")
    assert isinstance(error, psycopg.errors.InsufficientPrivilege), repr(error)


@on_postgres
def test_app_role_privileges_are_exactly_the_apps(as_app, app_role):
    columns = {f.column for f in AuditEvent._meta.concrete_fields}
    updatable = {
        column
        for column in columns
        if scalar(as_app, "SELECT has_column_privilege(%s, %s, 'UPDATE')", [AUDIT, column])
    }
    # The purgeable values (and, once the purge exists, its record); no fact, no hash.
    assert updatable == PURGEABLE | ({"purged"} & columns)
    assert {"hash", "prev_hash", "seq", "action", "created_at"} & updatable == set()

    def table_privileges(table: str) -> set[str]:
        return {
            p
            for p in ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "TRIGGER", "REFERENCES")
            if scalar(as_app, "SELECT has_table_privilege(%s, %s)", [table, p])
        }

    assert table_privileges(AUDIT) == {"SELECT", "INSERT"}  # UPDATE only per column
    assert table_privileges(CHAIN_HEAD) == {"SELECT", "INSERT", "UPDATE"}
    assert table_privileges("django_migrations") == {"SELECT"}
    ordinary = [
        row[0]
        for row in owner_sql(
            "SELECT relname FROM pg_class WHERE relnamespace = current_schema()::regnamespace "
            "AND relkind = 'r' AND relname NOT IN (%s, %s, 'django_migrations')",
            [AUDIT, CHAIN_HEAD],
        )
    ]
    assert "registry_accesspath" in ordinary and "django_session" in ordinary
    for table in ordinary:
        assert table_privileges(table) == {"SELECT", "INSERT", "UPDATE", "DELETE"}, table
    sequences = [
        row[0]
        for row in owner_sql(
            "SELECT relname FROM pg_class WHERE relnamespace = current_schema()::regnamespace "
            "AND relkind = 'S'"
        )
    ]
    assert sequences
    for sequence in sequences:
        assert scalar(as_app, "SELECT has_sequence_privilege(%s, 'USAGE')", [sequence])
        assert not scalar(as_app, "SELECT has_sequence_privilege(%s, 'UPDATE')", [sequence])
    assert not scalar(as_app, "SELECT has_schema_privilege(current_schema(), 'CREATE')")
    attributes = owner_sql(
        "SELECT rolsuper, rolcreatedb, rolcreaterole, rolbypassrls, rolreplication "
        "FROM pg_roles WHERE rolname = %s",
        [app_role],
    )
    assert attributes == [(False, False, False, False, False)]


@on_postgres
def test_app_role_uses_ordinary_tables_and_owns_nothing(as_app, app_role):
    with as_app.cursor() as cursor:
        cursor.execute(
            "INSERT INTO django_session (session_key, session_data, expire_date) "
            "VALUES ('k-role-test', 'data', now())"
        )
        cursor.execute("SELECT session_data FROM django_session WHERE session_key = 'k-role-test'")
        assert cursor.fetchone() == ("data",)
        cursor.execute("DELETE FROM django_session WHERE session_key = 'k-role-test'")
        assert cursor.rowcount == 1
        cursor.execute("SELECT count(*) FROM registry_auditevent")
    owned = owner_sql(
        """
        SELECT (SELECT count(*) FROM pg_class WHERE relowner = r.oid)
             + (SELECT count(*) FROM pg_namespace WHERE nspowner = r.oid)
             + (SELECT count(*) FROM pg_proc WHERE proowner = r.oid)
             + (SELECT count(*) FROM pg_type WHERE typowner = r.oid)
             + (SELECT count(*) FROM pg_database WHERE datdba = r.oid)
          FROM pg_roles r WHERE r.rolname = %s
        """,
        [app_role],
    )
    assert owned == [(0,)]


APP_AS_ROLE = textwrap.dedent(
    """
    import django

    django.setup()

    from django.contrib.sessions.backends.db import SessionStore
    from django.db import connection

    from registry import services
    from registry.rules.actors import Actor
    from registry.runtime.request_id import request_context
    from registry.models import AuditEvent, Team

    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        print("user", cursor.fetchone()[0])
    before = AuditEvent.objects.count()
    with request_context():
        team = services.team_create(
            actor=Actor.system("role-test"),
            data={"slug": "role-test", "name": "Role test", "kind": Team.Kind.PRODUCT,
                  "email": "role-test@example.com"},
        )
    print("audit events appended", AuditEvent.objects.count() - before)
    session = SessionStore()
    session["k"] = 1
    session.create()
    session.delete()
    print("session deleted", not SessionStore().exists(session.session_key))
    """
)


@on_postgres
def test_the_app_runs_as_the_role(as_app, app_role):
    s = connection.settings_dict
    url = f"postgres://{app_role}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"REDIS_URL", "CELERY_BROKER_URL", "DATABASE_URL", "PYTEST_XDIST_WORKER"}
    }
    env.update(DATABASE_URL=url, DJANGO_SETTINGS_MODULE="tests.settings")
    # Trusted argv: this interpreter running our fixed script (no shell).
    run = subprocess.run(  # noqa: S603
        [sys.executable, "-c", APP_AS_ROLE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, f"{run.stdout}\n{run.stderr}"
    assert f"user {app_role}" in run.stdout
    assert "audit events appended 1" in run.stdout
    assert "session deleted True" in run.stdout


@on_postgres
def test_running_it_again_changes_nothing(app_role):
    call_command("grant_app_role", app_role, stdout=io.StringIO())
    first = grants_of(app_role)
    assert (AUDIT, "reason", "UPDATE") in first
    assert (AUDIT, None, "UPDATE") not in first
    out = io.StringIO()
    call_command("grant_app_role", app_role, stdout=out)
    assert grants_of(app_role) == first
    assert f"Role {app_role}:" in out.getvalue()


@on_postgres
def test_surplus_privileges_are_revoked(app_role):
    owner_sql(f"GRANT ALL ON {AUDIT}, {CHAIN_HEAD} TO {app_role}")
    call_command("grant_app_role", app_role, stdout=io.StringIO())
    held = {(table, column, p) for table, column, p in grants_of(app_role) if table == AUDIT}
    assert held == {(AUDIT, None, "SELECT"), (AUDIT, None, "INSERT")} | {
        (AUDIT, c, "UPDATE") for c in PURGEABLE | ({"purged"} & _audit_columns())
    }


def _audit_columns() -> set[str]:
    return {f.column for f in AuditEvent._meta.concrete_fields}


@on_postgres
def test_refuses_a_role_that_inherits_write_on_everything(app_role):
    owner_sql(f"GRANT pg_write_all_data TO {app_role}")
    before = grants_of(app_role)
    with pytest.raises(CommandError, match=rf"DELETE on public\.{AUDIT}"):
        call_command("grant_app_role", app_role, stdout=io.StringIO())
    assert grants_of(app_role) == before  # rolled back


@on_postgres
def test_refuses_the_owner_and_unknown_roles(transactional_db):
    with pytest.raises(CommandError, match="the role running this command"):
        call_command("grant_app_role", connection.settings_dict["USER"] or "postgres")
    missing = unique_role()
    with pytest.raises(CommandError, match=f"Role {missing} does not exist"):
        call_command("grant_app_role", missing)


@on_postgres
def test_create_sets_a_hashed_password_never_shown(transactional_db, tmp_path, monkeypatch):
    role = unique_role()
    password = secrets.token_urlsafe(24)
    password_file = tmp_path / "password"
    password_file.write_text(password + "\n")
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(
            "grant_app_role", role, "--create", "--password-file", str(password_file),
            stdout=out, stderr=err,
        )  # fmt: skip
        stored = owner_sql(
            "SELECT rolpassword, rolcanlogin FROM pg_authid WHERE rolname = %s", [role]
        )
        assert len(stored) == 1
        verifier, can_login = stored[0]
        assert can_login
        assert verifier.startswith("SCRAM-SHA-256$") and password not in verifier
        assert password not in out.getvalue() + err.getvalue()
        assert f"Role {role}:" in out.getvalue()
        # A second run, password on standard input (as docker-compose passes it), changes
        # the password; the role is not created twice.
        monkeypatch.setattr(sys, "stdin", io.StringIO(f"another-{password}\n"))
        call_command(
            "grant_app_role", role, "--create", "--password-file", "-", stdout=io.StringIO()
        )
        changed = owner_sql("SELECT rolpassword FROM pg_authid WHERE rolname = %s", [role])
        assert changed[0][0] != verifier
    finally:
        drop_role(role)


def test_create_needs_a_password_file():
    with pytest.raises(CommandError, match="--create needs --password-file"):
        call_command("grant_app_role", "nhi_app", "--create")


@pytest.mark.parametrize("name", ["NhiApp", "nhi-app", "nhi_app; DROP TABLE x", "pg_app", "1app"])
def test_refuses_names_that_are_not_plain_identifiers(name):
    with pytest.raises(CommandError, match="not a plain role name"):
        call_command("grant_app_role", name)


@pytest.mark.skipif(connection.vendor != "sqlite", reason="the SQLite pass checks this")
def test_sqlite_has_no_roles():
    with pytest.raises(CommandError, match="needs PostgreSQL"):
        call_command("grant_app_role", "nhi_app")
