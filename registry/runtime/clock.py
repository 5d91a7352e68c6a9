"""Is this process's clock to be trusted? Compared with the database server's.

Background work decides with the time it reads: a worker whose clock runs 30 days ahead
expires paths weeks early, lapses them, and dates audit events in the future, and
nothing undoes that. The database server is the one clock every web and worker process
shares, so a process checks its own against it before acting on time
(`registry.services.sweep`) and stands down when they disagree by more than
`NHI_MAX_CLOCK_SKEW_SECONDS` (default 300).

Here rather than in `rules/`: the reading is I/O (a query), and the decision is about
the machine, not the domain (no path, team or status is involved). It is plumbing any
layer may use, like the request budgets.

On SQLite the database is a library inside this very process and reads the same system
clock: the check always agrees, which is right (there is no second clock to disagree
with), and it guards nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.utils import timezone

Clock = Callable[[], dt.datetime]

# clock_timestamp(), not now(): now() is frozen at the start of the transaction.
_POSTGRESQL_NOW = "SELECT clock_timestamp()"
_SQLITE_NOW = "SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')"


def max_clock_skew() -> dt.timedelta:
    return dt.timedelta(seconds=settings.NHI_MAX_CLOCK_SKEW_SECONDS)


def database_now() -> dt.datetime:
    """The database server's clock (UTC, aware)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(_POSTGRESQL_NOW)
            (value,) = cursor.fetchone()
            return value.astimezone(dt.UTC)
        if connection.vendor == "sqlite":
            cursor.execute(_SQLITE_NOW)
            (text,) = cursor.fetchone()
            return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)
    raise NotImplementedError(f"no clock query for {connection.vendor}")  # pragma: no cover


@dataclass(frozen=True)
class ClockReading:
    """This process's clock and the database's, read at (nearly) the same moment."""

    process_time: dt.datetime
    database_time: dt.datetime
    max_skew: dt.timedelta

    @property
    def skew(self) -> dt.timedelta:
        """How far this process's clock is ahead of the database's (negative: behind)."""
        return self.process_time - self.database_time

    @property
    def skew_seconds(self) -> float:
        return round(self.skew.total_seconds(), 3)

    @property
    def trusted(self) -> bool:
        """Close enough to act on. Behind is refused too: reminders and escalations
        would come late, and audit events would be dated before the ones already kept."""
        return abs(self.skew) <= self.max_skew

    def describe(self) -> str:
        """Both times and the margin, for a log line or an error."""
        allowed = f"{self.max_skew.total_seconds():g} s"
        apart = f"{self.skew_seconds:+.3f} s apart"
        if self.trusted:
            return f"this process's clock and the database's are {apart} (allowed {allowed})"
        return (
            f"this process's clock reads {self.process_time.isoformat()}, the database's "
            f"{self.database_time.isoformat()}: {apart}, more than the {allowed} allowed "
            "(NHI_MAX_CLOCK_SKEW_SECONDS)"
        )


def read_clocks(clock: Clock = timezone.now) -> ClockReading:
    """Read this process's clock around one query of the database's. The process time
    kept is the midpoint of the two readings, so the query's round trip does not count
    as skew."""
    before = clock()
    database_time = database_now()
    after = clock()
    return ClockReading(
        process_time=before + (after - before) / 2,
        database_time=database_time,
        max_skew=max_clock_skew(),
    )
