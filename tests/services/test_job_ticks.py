"""Job ticks (registry/services/job_ticks.py): one row per periodic job, upserted at
start and end; details merged, never replaced; a failure's text stored redacted."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from registry.models import AuditEvent, JobTick
from registry.rules import token_format
from registry.runtime.log_redaction import REDACTED
from registry.services.job_ticks import beat_tick, job_finished, job_started, job_tick, records_tick
from workers import tasks

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 11, 30, 10, 0, tzinfo=dt.UTC)


def tick(name: str) -> JobTick:
    return JobTick.objects.get(name=name)


def test_start_then_success_moves_every_date_and_clears_the_error():
    job_finished("deliver", ok=False, error="SMTP down", now=T0)
    job_started("deliver", now=T0 + dt.timedelta(seconds=60))
    assert tick("deliver").last_started_at == T0 + dt.timedelta(seconds=60)
    job_finished("deliver", ok=True, now=T0 + dt.timedelta(seconds=61))
    row = tick("deliver")
    assert row.last_finished_at == row.last_succeeded_at == T0 + dt.timedelta(seconds=61)
    assert row.last_error == ""


def test_a_failure_keeps_the_last_success():
    job_finished("anchor", ok=True, now=T0)
    job_finished("anchor", ok=False, error="RuntimeError: sink full", now=T0 + dt.timedelta(1))
    row = tick("anchor")
    assert (row.last_succeeded_at, row.last_finished_at) == (T0, T0 + dt.timedelta(1))
    assert row.last_error == "RuntimeError: sink full"


def test_details_are_merged_so_the_clock_guard_keeps_its_keys():
    job_finished("sweep", ok=True, details={"clock_skew_seconds": 0.2, "refused": False}, now=T0)
    job_finished("sweep", ok=True, details={"reminders": 3}, now=T0)
    assert tick("sweep").details == {"clock_skew_seconds": 0.2, "refused": False, "reminders": 3}


def test_ticks_are_operational_metadata_not_audited():
    before = AuditEvent.objects.count()
    job_started("imports")
    job_finished("imports", ok=True)
    beat_tick()
    assert AuditEvent.objects.count() == before


def test_job_tick_records_a_failure_redacted_and_reraises():
    secret = token_format.generate()
    with pytest.raises(ValueError), job_tick("imports"):
        raise ValueError(f"run-{secret} is not a valid UUID")
    row = tick("imports")
    assert row.last_started_at is not None and row.last_succeeded_at is None
    assert secret not in row.last_error
    assert row.last_error == f"ValueError: run-{REDACTED} is not a valid UUID"


def test_records_tick_wraps_a_task_and_keeps_its_result():
    @records_tick("exports")
    def run(x: int) -> int:
        return x * 2

    assert run(21) == 42
    row = tick("exports")
    assert row.last_succeeded_at is not None and row.last_error == ""


def test_the_periodic_tasks_record_their_ticks():
    """Run in this process, as a worker would: the sweep and the beat heartbeat."""
    tasks.beat_tick_task.apply()
    assert tick("beat").last_succeeded_at is not None
    result = tasks.sweep_task.apply()
    assert result.successful(), result.traceback
    sweep = tick("sweep")
    assert sweep.last_started_at is not None and sweep.last_succeeded_at is not None
    assert timezone.now() - sweep.last_succeeded_at < dt.timedelta(minutes=5)
