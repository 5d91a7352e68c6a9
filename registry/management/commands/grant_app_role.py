"""Give the application's database role exactly what the app needs, and nothing more.

Run by the schema owner after every `migrate` (docker-compose's `migrate` service does),
so tables a migration adds are covered without ALTER DEFAULT PRIVILEGES. The web app,
the worker and beat then connect as ROLE, which:

- owns nothing, so it can neither ALTER nor DROP a table, nor DISABLE TRIGGER the
  audit table's append-only triggers;
- is NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOREPLICATION;
- on the audit table may SELECT and INSERT, and UPDATE only the columns holding values
  a security reviewer may purge; never DELETE or TRUNCATE;
- on the audit chain head may SELECT, INSERT and UPDATE; never DELETE or TRUNCATE;
- on `django_migrations` may only SELECT (migrations are the owner's business);
- on every other table may SELECT, INSERT, UPDATE and DELETE; on sequences USAGE and
  SELECT; on the schema only USAGE.

Idempotent: everything the role holds in the schema is revoked and granted again in one
transaction, then the role's effective privileges (including what it inherits from other
roles or PUBLIC) are checked against the above; any surplus rolls everything back.
See docs/OPERATIONS.md, "Database roles".
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from psycopg import errors as pg_errors
from psycopg import sql

from registry.models import AuditChainHead, AuditEvent

AUDIT_TABLE = AuditEvent._meta.db_table
CHAIN_HEAD_TABLE = AuditChainHead._meta.db_table
MIGRATIONS_TABLE = "django_migrations"
# The audit columns holding values a purge replaces; every fact, the salt and the hashes
# stay out of reach. `purged` (which value was purged, by which event) only exists once the
# purge migration has run, and is granted then.
AUDIT_PURGEABLE_COLUMNS = ("actor_label", "changes", "reason", "request_id")
AUDIT_PURGE_RECORD_COLUMNS = ("purged",)
ALL_ROWS = ("SELECT", "INSERT", "UPDATE", "DELETE")
NEVER = ("TRUNCATE", "TRIGGER", "REFERENCES")
ROLE_ATTRIBUTES = {
    "rolsuper": "SUPERUSER",
    "rolcreatedb": "CREATEDB",
    "rolcreaterole": "CREATEROLE",
    "rolbypassrls": "BYPASSRLS",
    "rolreplication": "REPLICATION",
}
# A plain, lower-case SQL identifier: what an unquoted name in a DATABASE_URL or psql means.
ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class Command(BaseCommand):
    help = (
        "Grant the application's database role (PostgreSQL) exactly the privileges the web "
        "app and workers need: no ownership, no DELETE/TRUNCATE on the audit table, UPDATE "
        "there only on purgeable value columns. Run as the schema owner after migrate."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("role", help="the role the web app and workers connect as")
        parser.add_argument(
            "--create",
            action="store_true",
            help="create the role (LOGIN) if it does not exist; needs --password-file",
        )
        parser.add_argument(
            "--password-file",
            type=Path,
            help="file holding the role's password, or - for standard input; set on every "
            "run, stored hashed, never printed",
        )
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS)

    def handle(self, *args, **options) -> None:
        role = options["role"]
        if not ROLE_NAME.fullmatch(role) or role.startswith("pg_"):
            raise CommandError(
                f"{role!r} is not a plain role name: use lower-case letters, digits and "
                "underscores, starting with a letter or underscore, not 'pg_'."
            )
        if options["create"] and options["password_file"] is None:
            raise CommandError("--create needs --password-file: a LOGIN role needs a password.")
        connection = connections[options["database"]]
        if connection.vendor != "postgresql":
            raise CommandError(
                "grant_app_role needs PostgreSQL: SQLite has no roles (one process, one "
                f"file), and DATABASE_URL selects {connection.vendor}."
            )
        password = _read_password(options["password_file"]) if options["password_file"] else None

        with transaction.atomic(using=options["database"]):
            connection.ensure_connection()
            grants = _Grants(connection.connection, role)
            summary = grants.apply(create=options["create"], password=password)
        self.stdout.write(summary)


def _read_password(path: Path) -> str:
    """The password, from a file or (`-`) standard input, without its trailing newline."""
    try:
        password = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"Cannot read the password file {path}: {exc}") from None
    password = password.rstrip("\r\n")
    if not password:
        raise CommandError(f"The password file {path} is empty.")
    return password


class _Grants:
    """The statements, on the raw psycopg connection (so Django's query logging never sees
    them) inside the command's transaction."""

    def __init__(self, pg_connection, role: str) -> None:
        self.pg = pg_connection
        self.role = role
        self.ident = sql.Identifier(role)

    def run(self, statement, params=None) -> list[tuple]:
        with self.pg.cursor() as cursor:
            cursor.execute(statement, params)
            return cursor.fetchall() if cursor.description else []

    def one(self, statement, params=None):
        rows = self.run(statement, params)
        return rows[0][0] if rows else None

    # --- the steps ---

    def apply(self, *, create: bool, password: str | None) -> str:
        current = self.one("SELECT current_user")
        if self.role == current:
            raise CommandError(
                f"{self.role} is the role running this command (the schema owner); the app "
                "needs a role of its own."
            )
        exists = self.one("SELECT 1 FROM pg_roles WHERE rolname = %s", [self.role])
        if not exists and not create:
            raise CommandError(
                f"Role {self.role} does not exist: create it (CREATE ROLE {self.role} LOGIN "
                "PASSWORD '…') or run this command with --create --password-file FILE."
            )
        if password is not None:
            self._set_password(password, create=not exists)
        self._drop_role_attributes()
        schema = self.one("SELECT current_schema()")
        if schema is None:
            raise CommandError("No current schema: check the search_path of this database.")
        self._refuse_owner(schema)
        tables = self._relations(schema, "rpvmf")
        sequences = self._relations(schema, "S")
        if AUDIT_TABLE not in tables or CHAIN_HEAD_TABLE not in tables:
            raise CommandError(
                f"No {AUDIT_TABLE} / {CHAIN_HEAD_TABLE} in schema {schema}: run migrate first."
            )
        audit_update = self._audit_update_columns(schema)
        self._revoke(schema)
        self._grant(schema, tables, audit_update)
        problems = self._verify(schema, tables, sequences, audit_update)
        if problems:
            raise CommandError(
                f"Role {self.role} would still hold more than the app needs (nothing was "
                "changed):\n- " + "\n- ".join(problems)
            )
        return (
            f"Role {self.role}: {len(tables)} tables and {len(sequences)} sequences in schema "
            f"{schema}; owns nothing; {AUDIT_TABLE}: SELECT, INSERT, UPDATE "
            f"({', '.join(audit_update)}); {CHAIN_HEAD_TABLE}: SELECT, INSERT, UPDATE; "
            f"{MIGRATIONS_TABLE}: SELECT; other tables: {', '.join(ALL_ROWS)}."
        )

    def _set_password(self, password: str, *, create: bool) -> None:
        # Hashed here (SCRAM, or whatever password_encryption says), so the clear password
        # reaches neither the server's statement log nor pg_stat_activity.
        verifier = self.pg.pgconn.encrypt_password(
            password.encode("utf-8"), self.role.encode("utf-8")
        ).decode("ascii")
        verb = "CREATE ROLE {} WITH LOGIN" if create else "ALTER ROLE {} WITH LOGIN"
        try:
            self.run(
                sql.SQL(verb + " PASSWORD {}").format(self.ident, sql.Literal(verifier)),
            )
        except pg_errors.InsufficientPrivilege as exc:
            action = "create" if create else "set the password of"
            raise CommandError(
                f"Cannot {action} role {self.role}: {exc.diag.message_primary}"
            ) from None

    def _drop_role_attributes(self) -> None:
        row = self.run(
            sql.SQL("SELECT {} FROM pg_roles WHERE rolname = %s").format(
                sql.SQL(", ").join(sql.Identifier(a) for a in ROLE_ATTRIBUTES)
            ),
            [self.role],
        )[0]
        granted = [
            name for (_, name), value in zip(ROLE_ATTRIBUTES.items(), row, strict=True) if value
        ]
        if not granted:
            return
        try:
            self.run(
                sql.SQL("ALTER ROLE {} WITH {}").format(
                    self.ident, sql.SQL(" ").join(sql.SQL("NO" + name) for name in granted)
                )
            )
        except pg_errors.InsufficientPrivilege:
            raise CommandError(
                f"Role {self.role} has {', '.join(granted)}, which the app must not have, and "
                f"this role may not remove it: ALTER ROLE {self.role} "
                + " ".join("NO" + name for name in granted)
                + " (as a superuser)."
            ) from None

    def _refuse_owner(self, schema: str) -> None:
        """The role must own nothing here and belong to no role that owns something: an
        owner (or a member of one) can ALTER TABLE … DISABLE TRIGGER and DROP."""
        owned = self.run(
            """
            SELECT 'table ' || c.relname FROM pg_class c
             WHERE c.relowner = (SELECT oid FROM pg_roles WHERE rolname = %(role)s)
            UNION ALL
            SELECT 'schema ' || n.nspname FROM pg_namespace n
             WHERE n.nspowner = (SELECT oid FROM pg_roles WHERE rolname = %(role)s)
            UNION ALL
            SELECT 'function ' || p.proname FROM pg_proc p
             WHERE p.proowner = (SELECT oid FROM pg_roles WHERE rolname = %(role)s)
            UNION ALL
            SELECT 'type ' || t.typname FROM pg_type t
             WHERE t.typowner = (SELECT oid FROM pg_roles WHERE rolname = %(role)s)
            UNION ALL
            SELECT 'database ' || d.datname FROM pg_database d
             WHERE d.datdba = (SELECT oid FROM pg_roles WHERE rolname = %(role)s)
            UNION ALL
            SELECT DISTINCT 'membership in ' || o.rolname || ', owner of ' || n.nspname
              FROM pg_namespace n JOIN pg_roles o ON o.oid = n.nspowner
             WHERE n.nspname = %(schema)s AND pg_has_role(%(role)s, o.oid, 'MEMBER')
            UNION ALL
            SELECT DISTINCT 'membership in ' || o.rolname || ', owner of tables'
              FROM pg_class c JOIN pg_roles o ON o.oid = c.relowner
             WHERE c.relnamespace = %(schema)s::regnamespace
               AND pg_has_role(%(role)s, o.oid, 'MEMBER')
            ORDER BY 1
            """,
            {"role": self.role, "schema": schema},
        )
        if owned:
            raise CommandError(
                f"Role {self.role} must own nothing, but has: "
                + "; ".join(row[0] for row in owned[:10])
                + f". Reassign (REASSIGN OWNED BY {self.role} TO <owner>) or revoke the "
                "membership, then run this again."
            )

    def _relations(self, schema: str, kinds: str) -> list[str]:
        rows = self.run(
            "SELECT c.relname FROM pg_class c WHERE c.relnamespace = %s::regnamespace "
            "AND c.relkind = ANY(%s) ORDER BY c.relname",
            [schema, list(kinds)],
        )
        return [row[0] for row in rows]

    def _audit_update_columns(self, schema: str) -> list[str]:
        present = {
            row[0]
            for row in self.run(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = %s AND table_name = %s",
                [schema, AUDIT_TABLE],
            )
        }
        missing = [c for c in AUDIT_PURGEABLE_COLUMNS if c not in present]
        if missing:
            raise CommandError(
                f"{AUDIT_TABLE} has no column {', '.join(missing)}: the list of purgeable "
                "columns in grant_app_role no longer matches the model."
            )
        return [*AUDIT_PURGEABLE_COLUMNS, *(c for c in AUDIT_PURGE_RECORD_COLUMNS if c in present)]

    def _revoke(self, schema: str) -> None:
        s, r = sql.Identifier(schema), self.ident
        self.run(sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA {} FROM {}").format(s, r))
        self.run(sql.SQL("REVOKE ALL ON ALL SEQUENCES IN SCHEMA {} FROM {}").format(s, r))
        self.run(sql.SQL("REVOKE ALL ON ALL FUNCTIONS IN SCHEMA {} FROM {}").format(s, r))
        self.run(sql.SQL("REVOKE ALL ON SCHEMA {} FROM {}").format(s, r))
        database = sql.Identifier(self.one("SELECT current_database()"))
        self.run(sql.SQL("REVOKE CREATE ON DATABASE {} FROM {}").format(database, r))
        # Before PostgreSQL 15 every role may create objects in schema public (and would own
        # them); this database's tables belong to the owner alone.
        if self.one(
            "SELECT 1 FROM pg_namespace n, aclexplode(n.nspacl) a WHERE n.nspname = %s "
            "AND a.grantee = 0 AND a.privilege_type = 'CREATE'",
            [schema],
        ):
            self.run(sql.SQL("REVOKE CREATE ON SCHEMA {} FROM PUBLIC").format(s))

    def _grant(self, schema: str, tables: list[str], audit_update: list[str]) -> None:
        r = self.ident
        self.run(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(schema), r))
        for table in tables:
            t = sql.Identifier(schema, table)
            if table == AUDIT_TABLE:
                self.run(sql.SQL("GRANT SELECT, INSERT ON {} TO {}").format(t, r))
                self.run(
                    sql.SQL("GRANT UPDATE ({}) ON {} TO {}").format(
                        sql.SQL(", ").join(sql.Identifier(c) for c in audit_update), t, r
                    )
                )
            elif table == CHAIN_HEAD_TABLE:
                self.run(sql.SQL("GRANT SELECT, INSERT, UPDATE ON {} TO {}").format(t, r))
            elif table == MIGRATIONS_TABLE:
                self.run(sql.SQL("GRANT SELECT ON {} TO {}").format(t, r))
            else:
                self.run(sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON {} TO {}").format(t, r))
        self.run(
            sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {} TO {}").format(
                sql.Identifier(schema), r
            )
        )

    def _verify(
        self, schema: str, tables: list[str], sequences: list[str], audit_update: list[str]
    ) -> list[str]:
        """What the role can effectively do (its own grants, PUBLIC's and those of every
        role it belongs to) that it must not."""
        problems = []
        allowed = {
            AUDIT_TABLE: ("SELECT", "INSERT"),  # UPDATE: per column, below
            CHAIN_HEAD_TABLE: ("SELECT", "INSERT", "UPDATE"),
            MIGRATIONS_TABLE: ("SELECT",),
        }
        held = self.run(
            "SELECT c.relname, p.privilege FROM pg_class c, unnest(%s::text[]) p(privilege) "
            "WHERE c.relnamespace = %s::regnamespace AND c.relname = ANY(%s) "
            "AND has_table_privilege(%s, c.oid, p.privilege) ORDER BY 1, 2",
            [[*ALL_ROWS, *NEVER], schema, tables, self.role],
        )
        for table, privilege in held:
            if table == AUDIT_TABLE and privilege == "UPDATE":
                continue
            if privilege not in allowed.get(table, ALL_ROWS):
                problems.append(f"{privilege} on {schema}.{table}")
        updatable = self.run(
            "SELECT a.attname FROM pg_attribute a WHERE a.attrelid = %s::regclass "
            "AND a.attnum > 0 AND NOT a.attisdropped "
            "AND has_column_privilege(%s, a.attrelid, a.attnum, 'UPDATE')",
            [sql.Identifier(schema, AUDIT_TABLE).as_string(self.pg), self.role],
        )
        problems += [
            f"UPDATE of {AUDIT_TABLE}.{row[0]}" for row in updatable if row[0] not in audit_update
        ]
        settable = self.run(
            # CASE: the planner may test the privilege before the other conditions.
            "SELECT c.relname FROM pg_class c WHERE c.relnamespace = %s::regnamespace "
            "AND c.relname = ANY(%s) "
            "AND CASE WHEN c.relkind = 'S' THEN has_sequence_privilege(%s, c.oid, 'UPDATE') END",
            [schema, sequences, self.role],
        )
        problems += [f"UPDATE (setval) on sequence {schema}.{row[0]}" for row in settable]
        if self.one("SELECT has_schema_privilege(%s, %s, 'CREATE')", [self.role, schema]):
            problems.append(f"CREATE on schema {schema}")
        if self.one("SELECT has_database_privilege(%s, current_database(), 'CREATE')", [self.role]):
            problems.append("CREATE on the database")
        return problems
