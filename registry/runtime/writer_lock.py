"""The writers' lock: one order of locks for every transaction that writes paths.

Keeping the dashboard's tally exact (registry/services/tallies.py) reclassifies a
changed path's external-id twins, which are rows another transaction may hold. So a
transaction that writes paths, or appends to the audit chain, takes this advisory lock
first, then row locks, then the chain's head: everybody in one order, no deadlock,
and no two transactions take the same stored facts out of the tally twice. Audited
writes were already serialised by the chain's head; this starts the queue earlier.
SQLite lets one writer in at a time anyway.
"""

from __future__ import annotations

from django.db import connection

# pg_advisory_xact_lock key: "tally" in ASCII.
WRITER_LOCK_KEY = 0x74616C6C79


def hold_writer_lock() -> None:
    """Take the lock for the rest of the transaction (re-entrant)."""
    if not connection.in_atomic_block:
        raise RuntimeError("the writers' lock is taken inside the transaction of the change")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [WRITER_LOCK_KEY])
