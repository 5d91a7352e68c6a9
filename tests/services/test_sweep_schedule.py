"""The scheduled sweep never starts while the previous one still runs (PostgreSQL): it
takes a session-level advisory lock on a connection of its own, and a run that cannot
take it returns at once, saying so in its result, its log and the `sweep` JobTick."""

from __future__ import annotations

import logging

import pytest
from django.db import connection

from registry.models import JobTick
from registry.services.sweep_schedule import SKIPPED_STILL_RUNNING, SWEEP_LOCK_KEY, sweep_lock
from workers import tasks

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


@pytest.fixture
def other_connection():
    """Another session on the same database: what a sweep running elsewhere holds."""
    other = connection.copy()
    yield other
    other.close()


def _advisory(conn, call: str) -> None:
    with conn.cursor() as cursor:
        cursor.execute(f"SELECT {call}(%s)", [SWEEP_LOCK_KEY])


def test_a_run_while_another_holds_the_lock_skips_and_says_so(personas, other_connection, caplog):
    _advisory(other_connection, "pg_advisory_lock")
    with caplog.at_level(logging.INFO):
        result = tasks.sweep_task.apply()
    assert result.successful(), result.traceback
    assert result.result == {"skipped": SKIPPED_STILL_RUNNING}
    lines = [r.getMessage() for r in caplog.records if r.name.endswith("sweep_schedule")]
    assert lines == [f"Sweep skipped: the {SKIPPED_STILL_RUNNING}."]
    tick = JobTick.objects.get(name="sweep")
    assert tick.details["last_skip_reason"] == SKIPPED_STILL_RUNNING
    assert tick.details["last_skipped_at"]
    # The skipped run records no tick of its own: the running sweep's is the truth.
    assert tick.last_started_at is None and tick.last_succeeded_at is None

    _advisory(other_connection, "pg_advisory_unlock")
    result = tasks.sweep_task.apply()
    assert result.successful(), result.traceback
    assert "skipped" not in result.result
    tick.refresh_from_db()
    assert tick.last_started_at is not None and tick.last_succeeded_at is not None


def test_the_lock_is_held_for_the_run_and_released_after(other_connection):
    with sweep_lock() as first, sweep_lock() as second:
        assert (first, second) == (True, False)
    with other_connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [SWEEP_LOCK_KEY])
        assert cursor.fetchone()[0] is True
    _advisory(other_connection, "pg_advisory_unlock")
