"""The sweep refuses to act on a clock the database disagrees with (issue 14).

A worker clock 30 days ahead expired and lapsed paths weeks early and dated audit
events in the future, for good. The live sweep (no `now` given) compares its clock
with the database's first. In-process tests hand the sweep a clock set ahead (the
database's clock is read for real); the last test runs `manage.py sweep` in a process
whose clock really is ahead (libfaketime), against PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import subprocess
import sys
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from registry.models import AccessPath, AuditEvent, JobTick, Notification
from registry.runtime.clock import database_now, read_clocks
from registry.services.sweep import sweep
from tests.processes.test_sweep_concurrency import database_url

DAY = dt.timedelta(days=1)
MONTH_AHEAD = 30 * DAY


def ahead(delta: dt.timedelta):
    return lambda: timezone.now() + delta


@pytest.fixture
def due_in_a_month(make_path):
    """Paths a sweep 30 days from now would expire and lapse; nothing is due today."""
    real_now = timezone.now()
    expiring = make_path(now=real_now - 10 * DAY, expires_at=real_now + 10 * DAY)
    reviewing = make_path(now=real_now - 80 * DAY, review_interval_days=90)
    assert reviewing.next_review_at < real_now + MONTH_AHEAD - 14 * DAY  # lapsed by then
    return [expiring, reviewing]


def registry_state() -> tuple:
    paths = sorted(AccessPath.objects.values_list("id", "state", "escalation_stage", "version"))
    return paths, AuditEvent.objects.count(), Notification.objects.count()


def sweep_details() -> dict:
    return JobTick.objects.get(name="sweep").details


# --- the clocks ----------------------------------------------------------------------


@pytest.mark.django_db
def test_the_database_clock_is_read_from_the_database():
    before = timezone.now()
    database = database_now()
    after = timezone.now()
    assert database.tzinfo is not None
    # Same machine: the two clocks agree far within the margin (not a speed check).
    assert before - dt.timedelta(seconds=5) <= database <= after + dt.timedelta(seconds=5)
    reading = read_clocks(ahead(MONTH_AHEAD))
    assert reading.skew_seconds == pytest.approx(MONTH_AHEAD.total_seconds(), abs=5)
    assert not reading.trusted
    assert read_clocks(ahead(-dt.timedelta(minutes=10))).trusted is False  # behind too
    assert read_clocks(ahead(dt.timedelta(seconds=60))).trusted


@pytest.mark.parametrize("value", ["0", "-5", "five"])
def test_a_margin_that_is_not_a_positive_number_stops_start_up(value):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "1"}
    env["NHI_MAX_CLOCK_SKEW_SECONDS"] = value
    done = subprocess.run(
        [sys.executable, "-c", "from django.conf import settings; settings.DATABASES"],
        cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0
    assert "NHI_MAX_CLOCK_SKEW_SECONDS must be" in done.stderr


# --- refusing ------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_clock_a_month_ahead_changes_nothing_and_says_so(due_in_a_month, caplog):
    before = registry_state()
    with caplog.at_level(logging.ERROR, logger="registry.services.sweep"):
        summary = sweep(clock=ahead(MONTH_AHEAD))
    assert registry_state() == before  # no path, audit event or outbox row changed
    assert summary["refused"] == "clock_skew"
    assert summary["clock_skew_seconds"] == pytest.approx(MONTH_AHEAD.total_seconds(), abs=5)
    assert summary["max_clock_skew_seconds"] == 300
    (record,) = [r for r in caplog.records if r.name == "registry.services.sweep"]
    assert record.levelno == logging.ERROR
    message = record.getMessage()
    assert "database's" in message and "300 s allowed" in message
    assert str((timezone.now() + MONTH_AHEAD).year) in message  # the process's time
    details = sweep_details()
    assert details["refused"] is True
    assert details["clock_skew_seconds"] == summary["clock_skew_seconds"]
    assert dt.datetime.fromisoformat(details["checked_at"]) <= timezone.now()


@pytest.mark.django_db
def test_the_refused_data_was_really_due_at_that_time(due_in_a_month):
    """The control for the test above: at the skewed time, the sweep would have acted."""
    would = sweep(clock=ahead(MONTH_AHEAD), dry_run=True, ignore_clock=True)
    assert "refused" not in would
    assert would["expired"] == 1 and would["lapsed"] == 1
    assert "refused" in sweep(clock=ahead(MONTH_AHEAD), dry_run=True)


@pytest.mark.django_db
def test_a_clock_behind_is_refused_too(due_in_a_month):
    before = registry_state()
    summary = sweep(clock=ahead(-dt.timedelta(minutes=10)))
    assert summary["refused"] == "clock_skew" and summary["clock_skew_seconds"] < -590
    assert registry_state() == before


@pytest.mark.django_db
def test_within_the_margin_the_sweep_acts_and_records_the_check(due_in_a_month):
    JobTick.objects.create(name="sweep", details={"kept": "another recorder's key"})
    summary = sweep(clock=ahead(dt.timedelta(seconds=90)))
    assert "refused" not in summary
    assert abs(summary["clock_skew_seconds"] - 90) < 5
    details = sweep_details()
    assert details["refused"] is False
    assert details["kept"] == "another recorder's key"  # merged, not replaced


@pytest.mark.django_db
def test_the_margin_is_a_setting(due_in_a_month, settings):
    settings.NHI_MAX_CLOCK_SKEW_SECONDS = 3600
    assert "refused" not in sweep(clock=ahead(dt.timedelta(minutes=30)))
    settings.NHI_MAX_CLOCK_SKEW_SECONDS = 60
    assert sweep(clock=ahead(dt.timedelta(minutes=2)))["refused"] == "clock_skew"


@pytest.mark.django_db
def test_a_time_given_by_the_caller_is_not_checked(due_in_a_month):
    """Tests and replays travel in time on purpose: no process clock is involved."""
    summary = sweep(now=timezone.now() + MONTH_AHEAD)
    assert summary["expired"] == 1 and "clock_skew_seconds" not in summary
    assert not JobTick.objects.filter(name="sweep").exists()


@pytest.mark.django_db
def test_ignoring_the_clock_acts_and_records_it(due_in_a_month, caplog):
    with caplog.at_level(logging.WARNING, logger="registry.services.sweep"):
        summary = sweep(clock=ahead(MONTH_AHEAD), ignore_clock=True)
    assert summary["expired"] == 1
    assert sweep_details()["refused"] is False
    assert any("clock check ignored" in r.getMessage() for r in caplog.records)


@pytest.mark.django_db
def test_a_dry_run_reports_the_check_and_records_nothing(due_in_a_month):
    before = registry_state()
    refused = sweep(clock=ahead(MONTH_AHEAD), dry_run=True)
    assert refused["refused"] == "clock_skew" and refused["dry_run"] == 1
    fine = sweep(dry_run=True)
    assert "refused" not in fine and abs(fine["clock_skew_seconds"]) < 5
    assert registry_state() == before
    assert not JobTick.objects.filter(name="sweep").exists()


# --- the command ---------------------------------------------------------------------


@pytest.mark.django_db
def test_the_command_prints_the_clock_check(due_in_a_month):
    out = StringIO()
    call_command("sweep", "--dry-run", stdout=out)
    summary = json.loads(out.getvalue())
    assert summary["dry_run"] == 1 and abs(summary["clock_skew_seconds"]) < 5
    assert summary["max_clock_skew_seconds"] == settings.NHI_MAX_CLOCK_SKEW_SECONDS


@pytest.mark.django_db
def test_the_command_acts_with_a_trusted_clock(due_in_a_month):
    before = registry_state()
    out = StringIO()
    call_command("sweep", stdout=out)
    summary = json.loads(out.getvalue())
    assert "refused" not in summary and summary["reminders_queued"] == 2  # review, expiry
    assert registry_state() != before
    assert sweep_details()["refused"] is False


# --- a real process whose clock is a month ahead ---------------------------------------

FAKETIME = shutil.which("faketime")


def run_sweep_process(*args: str, clock_offset: str | None) -> subprocess.CompletedProcess:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "DATABASE_URL": database_url()}
    command = [sys.executable, "manage.py", "sweep", *args]
    if clock_offset is not None:
        assert FAKETIME is not None
        # libfaketime shifts every clock this process reads; the database's is untouched.
        command = [FAKETIME, clock_offset, *command]
    return subprocess.run(  # noqa: S603 - our own manage.py, fixed arguments
        command, cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=120
    )


def last_json(output: str) -> dict:
    return json.loads([line for line in output.splitlines() if line.strip()][-1])


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    # CI installs it (.ci/run): there a missing faketime fails the test, never hides it.
    FAKETIME is None and os.environ.get("CI") != "true",
    reason="needs libfaketime's `faketime` to run a process with its clock ahead "
    "(apt-get install faketime)",
)
def test_a_sweep_process_with_its_clock_a_month_ahead_refuses(due_in_a_month):
    before = registry_state()
    done = run_sweep_process(clock_offset="+30 days")
    assert done.returncode == 1, done.stderr
    summary = last_json(done.stdout)
    assert summary["refused"] == "clock_skew"
    assert summary["clock_skew_seconds"] == pytest.approx(MONTH_AHEAD.total_seconds(), abs=60)
    (logged,) = [line for line in done.stderr.splitlines() if "Sweep refused to act" in line]
    assert "ERROR" in logged and "registry.services.sweep" in logged  # any log format
    assert "Sweep refused: this host's clock is +259" in done.stderr
    assert "NHI_MAX_CLOCK_SKEW_SECONDS (300 s). Nothing was changed." in done.stderr
    assert registry_state() == before
    assert sweep_details()["refused"] is True  # the real run recorded it
    # The control: the same process would have expired and lapsed at its time ...
    forced = run_sweep_process("--dry-run", "--ignore-clock", clock_offset="+30 days")
    assert forced.returncode == 0, forced.stderr
    assert (last_json(forced.stdout)["expired"], last_json(forced.stdout)["lapsed"]) == (1, 1)
    # ... and a process with the right time acts.
    normal = run_sweep_process(clock_offset=None)
    assert normal.returncode == 0, normal.stderr
    assert "refused" not in last_json(normal.stdout)
    assert sweep_details()["refused"] is False
