"""The import's set-based half: the content hash that recognises an unchanged row in the
database, the staging table a chunk's keys are loaded into (COPY on PostgreSQL), and
the insert of a chunk's new paths in one statement.

services/imports.py decides what happens to each row; this module only moves rows in
and out of the database in bulk. Every rule of registering still runs in
services/paths.py (`_new_path`), every event still goes through the audit chain.

The content hash. `import_digest` is the one definition of "what a row states": the
fields an import writes, as the import compares them with a registered path. A path
stores `<digest>@<version>` when the import knows the path holds exactly what a row
stated (it registered it from that row, or compared the two and found them equal).
Folding the version in makes the hash self-invalidating: any service write bumps the
version (services/_common.save_path), so a path edited since by a person, a claim or a
sweep no longer matches and is compared field by field again, never skipped on a stale
promise. An empty hash (every path before this existed) matches nothing: such a path is
compared once, then gets its hash.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.db import IntegrityError, connection, models, transaction

from registry.models import AccessPath
from registry.rules.status import LIVE_STATES

# Room for "@<version>" in the 64 characters of AccessPath.content_hash: 208 bits of
# SHA-256 are far more than a collision between two rows of one path could need.
DIGEST_LENGTH = 52
# Fields the comparison treats apart (services/imports.py): how the registry first
# learned of a path is never overwritten once known (a condition in the staging query
# says when it would be), and an imported review date counts only when it is newer.
UNHASHED = frozenset({"created_via", "last_attested_at"})
STAGE_TABLE = "import_stage"
NEW_PATHS_TABLE = "import_new_paths"


def _plain(value: Any) -> Any:
    """A value as the digest sees it: the comparison's own notion of equality (teams
    by primary key, tags by lowercase slug, times as aware ISO strings)."""
    if isinstance(value, models.Model):
        return ["pk", str(value.pk)]
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def import_digest(data: Mapping[str, Any], interactive_login: bool | None) -> str:
    """The digest of what an import row states about an already registered path (its
    data after the teams are resolved, before any default for new rows is added)."""
    stated: dict[str, Any] = {}
    for name, value in data.items():
        if name in UNHASHED:
            continue
        if name == "tags":
            stated[name] = sorted({str(tag).lower() for tag in value})
        elif name == "revoker_teams":
            stated[name] = sorted(str(getattr(team, "pk", team)) for team in value)
        else:
            stated[name] = _plain(value)
    if interactive_login is not None:
        stated["interactive_login"] = interactive_login
    text = json.dumps(stated, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:DIGEST_LENGTH]


def stored_hash(digest: str, version: int) -> str:
    """What AccessPath.content_hash holds: the digest, valid for this version only."""
    return f"{digest}@{version}"


# --- the staging table: which rows the database already holds as stated ------------


def _temporary(name: str, definition: str) -> str:
    """CREATE for a temporary table made once per import and emptied before each
    chunk. On PostgreSQL it goes with the import's transaction (ON COMMIT DROP), so a
    pooled connection never keeps one shaped by an older schema; SQLite keeps it for
    the connection (it has no ON COMMIT), which the emptying makes harmless."""
    drop = " ON COMMIT DROP" if _drops_on_commit() else ""
    return f"CREATE TEMP TABLE IF NOT EXISTS {name} {definition}{drop}"


def _drops_on_commit() -> bool:
    # Outside a transaction the table would be dropped by the CREATE's own commit.
    return connection.vendor == "postgresql" and connection.in_atomic_block


def _ensure_stage(cursor: Any) -> None:
    cursor.execute(
        _temporary(
            STAGE_TABLE,
            "(pos integer NOT NULL, system varchar(64) NOT NULL, "
            "external_id varchar(500) NOT NULL, digest varchar(64) NOT NULL, "
            "created_via varchar(16) NOT NULL)",
        )
    )
    cursor.execute(f"DELETE FROM {STAGE_TABLE}")  # noqa: S608 - a constant name


def unchanged_in_database(
    staged: Sequence[tuple[int, str, str, str, str]], *, now: dt.datetime
) -> dict[int, Any]:
    """The staged rows (position, system, external_id, digest, created_via stated or
    "") whose registered path is live and already holds exactly what they state:
    {position: path id}."""
    return recognised_in_database(staged, now=now)[0]


def recognised_in_database(
    staged: Sequence[tuple[int, str, str, str, str]], *, now: dt.datetime
) -> tuple[dict[int, Any], set[int]]:
    """What the database knows of the staged rows: ({position: path id} of the rows it
    settles as unchanged (`unchanged_in_database`), the positions whose key is
    registered at all). A staged row in neither names no registered path: nothing to
    load for it. One COPY (PostgreSQL) or one multi-row insert, and one join on the
    (system, external_id) unique index: unchanged rows are never loaded."""
    if not staged:
        return {}, set()
    with connection.cursor() as cursor:
        _ensure_stage(cursor)
        if connection.vendor == "postgresql":
            columns = "pos, system, external_id, digest, created_via"
            with cursor.copy(f"COPY {STAGE_TABLE} ({columns}) FROM STDIN") as copy:
                for row in staged:
                    copy.write_row(row)
            # A fresh temporary table has no statistics: without them the planner may
            # hash-join by scanning the whole paths table instead of probing its index.
            cursor.execute(f"ANALYZE {STAGE_TABLE}")
        else:
            cursor.executemany(
                f"INSERT INTO {STAGE_TABLE} VALUES (%s, %s, %s, %s, %s)",  # noqa: S608
                list(staged),
            )
        live = ", ".join(["%s"] * len(LIVE_STATES))
        cursor.execute(
            "SELECT s.pos, p.id, CASE WHEN "  # noqa: S608 - constant names
            "p.content_hash = s.digest || '@' || CAST(p.version AS varchar(12)) "
            f"AND p.state IN ({live}) AND (p.expires_at IS NULL OR p.expires_at > %s) "
            "AND (s.created_via = '' OR p.created_via <> %s) THEN 1 ELSE 0 END "
            f"FROM {STAGE_TABLE} s JOIN registry_accesspath p ON p.system = s.system "
            "AND p.external_id = s.external_id AND p.external_id <> ''",
            [*LIVE_STATES, now, AccessPath.CreatedVia.UNKNOWN],
        )
        found = cursor.fetchall()
    settled = {pos: _path_id(path_id) for pos, path_id, same in found if same}
    return settled, {pos for pos, _, _ in found}


def _path_id(value: Any) -> uuid.UUID:
    # SQLite hands a UUID back as its 32 hex digits; the rest of the import uses UUIDs.
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def store_hashes(hashes: Mapping[Any, str]) -> None:
    """Record {path id: stored hash} for paths the import found holding what their row
    stated. Bookkeeping like the import's stamp: no version bump, no audit event."""
    if not hashes:
        return
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "UPDATE registry_accesspath p SET content_hash = v.hash "
                "FROM unnest(%s::uuid[], %s::varchar[]) AS v(id, hash) WHERE p.id = v.id",
                [list(hashes), list(hashes.values())],
            )
        else:
            cursor.executemany(
                "UPDATE registry_accesspath SET content_hash = %s WHERE id = %s",
                [(value, _path_id(pk).hex) for pk, value in hashes.items()],
            )


# --- inserting a chunk's new paths ------------------------------------------------


def _copy_values(path: AccessPath, fields: Iterable[models.Field]) -> list[Any]:
    return [getattr(path, field.attname) for field in fields]


def insert_new_paths(paths: Sequence[AccessPath]) -> set[Any]:
    """Insert built and validated paths; returns the ids actually inserted. A path whose
    (system, external_id) another transaction registered meanwhile is skipped, not an
    error: the caller applies its row again through the ordinary services.

    PostgreSQL: COPY into a temporary copy of the table, then one INSERT ... SELECT ...
    ON CONFLICT DO NOTHING: no per-value quoting in Python, one statement for the lot.
    SQLite: bulk_create in a savepoint; a conflict undoes the batch (all retried)."""
    if not paths:
        return set()
    if connection.vendor != "postgresql":
        try:
            with transaction.atomic():
                AccessPath.objects.bulk_create(paths)
        except IntegrityError:  # someone registered one of the keys meanwhile
            return set()
        return {path.pk for path in paths}
    fields = AccessPath._meta.concrete_fields
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    with connection.cursor() as cursor:
        cursor.execute(_temporary(NEW_PATHS_TABLE, "(LIKE registry_accesspath INCLUDING DEFAULTS)"))
        cursor.execute(f"DELETE FROM {NEW_PATHS_TABLE}")  # noqa: S608 - a constant name
        with cursor.copy(f"COPY {NEW_PATHS_TABLE} ({columns}) FROM STDIN") as copy:
            for path in paths:
                copy.write_row(_copy_values(path, fields))
        cursor.execute(
            f"INSERT INTO registry_accesspath ({columns}) "  # noqa: S608 - constant names
            f"SELECT {columns} FROM {NEW_PATHS_TABLE} "
            "ON CONFLICT (system, external_id) WHERE external_id <> '' DO NOTHING "
            "RETURNING id"
        )
        return {row[0] for row in cursor.fetchall()}
