"""The scheduled sweep: never two at once.

Beat starts the sweep every NHI_SWEEP_EVERY_SECONDS; on a large estate one run can take
longer than that. Concurrent sweeps are safe (services/sweep.py) but a second one started
behind a long run only competes with it for the same rows, so a scheduled run first takes
a PostgreSQL session-level advisory lock and, when another run holds it, returns at once:
one WARNING line, the summary `{"skipped": ...}` and the `sweep` JobTick's details
(`last_skipped_at`, `last_skip_reason`). A skipped run does not record a tick of its own:
the running sweep's tick (started, not yet finished) is the one that tells the truth.

Why a session lock on a connection of its own: a sweep is many short transactions (one
per batch), so a transaction-level lock (pg_try_advisory_xact_lock) would be released at
the first commit. The lock's connection does nothing else, so the work's connection can
commit, fail and roll back freely; when the worker dies, its connections close and the
server releases the lock (nothing to clean up, no lease to expire).

SQLite (development, tests, one writer at a time): no lock; overlapping runs there are
as safe as anywhere and a development machine has one worker.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import DatabaseError, connection
from django.utils import timezone

from registry.services.job_ticks import job_details, job_tick
from registry.services.sweep import JOB_NAME, sweep

log = logging.getLogger(__name__)

# pg_try_advisory_lock key: "sweep" in ASCII (the writers' lock, runtime/writer_lock.py,
# is "tally"; the two never collide).
SWEEP_LOCK_KEY = 0x7377656570
SKIPPED_STILL_RUNNING = "previous sweep still running"


@contextmanager
def sweep_lock() -> Iterator[bool]:
    """Yield whether this process holds the scheduled sweep's lock (always True on
    SQLite); released on exit."""
    if connection.vendor != "postgresql":
        yield True
        return
    holder = connection.copy()
    try:
        with holder.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [SWEEP_LOCK_KEY])
            held = bool(cursor.fetchone()[0])
        try:
            yield held
        finally:
            if held:
                _unlock(holder)
    finally:
        holder.close()


def _unlock(holder: Any) -> None:
    try:
        with holder.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [SWEEP_LOCK_KEY])
    except DatabaseError:
        # The connection is gone, and the server released the lock with it.
        log.warning("could not release the sweep's lock explicitly", exc_info=True)


def sweep_scheduled(**options: Any) -> dict[str, Any]:
    """The beat task's sweep: `sweep(**options)` under the lock, its tick recorded; or,
    when the previous run still holds the lock, nothing but saying so."""
    with sweep_lock() as held:
        if not held:
            log.warning("Sweep skipped: the %s.", SKIPPED_STILL_RUNNING)
            figures = {
                "last_skipped_at": timezone.now().isoformat(),
                "last_skip_reason": SKIPPED_STILL_RUNNING,
            }
            job_details(JOB_NAME, figures)
            return {"skipped": SKIPPED_STILL_RUNNING}
        with job_tick(JOB_NAME):
            return sweep(**options)
