"""One consistent view of the audit chain for everything that reads it together.

Walking the chain reads the events, then the chain head. Read in two statements under
READ COMMITTED, a writer committing in between makes an intact chain look cut short
("events after #N are missing"): the head has moved past the last event the walk saw.
Every reader that compares events with the head (or with anything else read later)
does so inside `chain_snapshot()`.

- PostgreSQL: a transaction whose first statement is `SET TRANSACTION ISOLATION LEVEL
  REPEATABLE READ, READ ONLY`. Every statement in it, the server-side cursor that
  streams the events included, sees the database as of its first read; writers are
  never blocked (MVCC), and a stray write inside fails instead of committing.
- SQLite: `atomic()` begun `DEFERRED` (this project configures `IMMEDIATE`, which would
  take the write lock for the whole walk and make every writer wait). A read
  transaction holds its snapshot from its first read to its end: in WAL mode (the
  default configuration) writers carry on beside it; in rollback journal mode they wait.
- Inside a transaction the caller already opened, that transaction's snapshot rules
  (an isolation level can only be chosen by a transaction's first statement): callers
  that need one snapshot for several reads open `chain_snapshot()` themselves, first.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connection, transaction

REPEATABLE_READ_ONLY = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"


@contextmanager
def _postgresql_snapshot() -> Iterator[None]:
    # The isolation level must be the transaction's first statement. A reused connection
    # is health-checked (CONN_HEALTH_CHECKS: a SELECT 1) by its first query: let that
    # happen here, outside the transaction.
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(REPEATABLE_READ_ONLY)
        yield


@contextmanager
def _sqlite_snapshot() -> Iterator[None]:
    """Django's own transaction (so atomic() inside nests as savepoints), begun DEFERRED
    for this once: the connection's configured mode is put back as soon as BEGIN ran."""
    sqlite: Any = connection  # `transaction_mode` is the SQLite backend's own attribute
    sqlite.ensure_connection()  # connecting (re)reads the configured mode: do it first
    configured = sqlite.transaction_mode
    sqlite.transaction_mode = "DEFERRED"
    try:
        with transaction.atomic():
            sqlite.transaction_mode = configured
            yield
    finally:
        sqlite.transaction_mode = configured


@contextmanager
def chain_snapshot() -> Iterator[None]:
    """Run the enclosed reads against one snapshot of the database (see the module)."""
    if connection.in_atomic_block:
        yield
    elif connection.vendor == "postgresql":
        with _postgresql_snapshot():
            yield
    elif connection.vendor == "sqlite":
        with _sqlite_snapshot():
            yield
    else:  # pragma: no cover - the project supports PostgreSQL and SQLite only
        with transaction.atomic():
            yield
