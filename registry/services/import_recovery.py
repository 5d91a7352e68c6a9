"""Imports that always finish: taking back runs whose worker died, and deleting uploads
past their retention. The periodic `registry.imports_pending` task calls both.

A worker killed mid-import (SIGKILL, out of memory, a lost node) leaves its run
"running" with a heartbeat that no longer moves. Its import ran in one transaction, so
the database rolled everything back: the run can start again from its upload. The
decision (stale? retry or fail?) is registry/rules/imports.py's; this acts on it with a
compare-and-set on the status, the attempt and the very heartbeat it judged stale, so
two recoverers never both act, and a run that beat meanwhile is left alone.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.db.models import QuerySet

from registry.audit import audit_record
from registry.models import ImportRun
from registry.rules.actors import Actor
from registry.rules.imports import AfterWorkerLost, after_worker_lost, stale_running_q
from registry.runtime.stored_files import purge_expired_files
from registry.services._common import resolve_now
from registry.services.imports import expire_upload

log = logging.getLogger(__name__)

# Stale runs taken back per call: each is one short transaction; the rest wait for the
# next run of the periodic task.
RECOVER_BATCH = 100
# How long taking one run back may wait for a lock (PostgreSQL's lock_timeout).
LOCK_WAIT_MS = 5000
ACTOR_LABEL = "import recovery"


def imports_recover(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Queue again, or fail with the reason, every running import whose worker stopped
    beating NHI_IMPORT_STALE_SECONDS ago. Returns how many of each."""
    now = resolve_now(now)
    stale = (
        ImportRun.objects.filter(
            stale_running_q(now=now, stale_seconds=settings.NHI_IMPORT_STALE_SECONDS)
        )
        .select_related("upload")
        .order_by("heartbeat_at")[:RECOVER_BATCH]
    )
    done = {"requeued": 0, "failed": 0}
    for run in stale:
        decision, reason = after_worker_lost(run, max_attempts=settings.NHI_IMPORT_MAX_ATTEMPTS)
        try:
            if decision is AfterWorkerLost.REQUEUE:
                done["requeued"] += _requeue(run, now)
            else:
                done["failed"] += _fail(run, reason, now)
        except OperationalError as exc:
            # Its audit event waits for the chain head, which a long import elsewhere
            # may hold until it commits: the run stays stale, the next call takes it.
            log.warning("import %s: not taken back this time: %s", run.pk, exc)
    return done


def _lock_deadline() -> None:
    """Wait at most LOCK_WAIT_MS for a lock inside the current transaction."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL lock_timeout = {LOCK_WAIT_MS}")


def _still_as_judged(run: ImportRun) -> QuerySet[ImportRun]:
    """The run exactly as it was judged stale: running, the same attempt, the same
    heartbeat. Its worker beating since, or another recoverer acting, changes a field."""
    judged = ImportRun.objects.filter(
        pk=run.pk, status=ImportRun.Status.RUNNING, attempts=run.attempts
    )
    if run.heartbeat_at is None:
        return judged.filter(heartbeat_at__isnull=True)
    return judged.filter(heartbeat_at=run.heartbeat_at)


def _requeue(run: ImportRun, now: dt.datetime) -> int:
    with transaction.atomic():
        _lock_deadline()
        if _still_as_judged(run).update(status=ImportRun.Status.QUEUED, processed=0) != 1:
            return 0
        audit_record(
            actor=Actor.system(ACTOR_LABEL),
            action="import.requeued",
            obj=run,
            now=now,
            changes={"status": [ImportRun.Status.RUNNING, ImportRun.Status.QUEUED]},
            reason=(
                f"The worker running attempt {run.attempts} stopped beating at "
                f"{_when(run.heartbeat_at)}; nothing was changed, the import starts again."
            ),
        )
    return 1


def _fail(run: ImportRun, reason: str, now: dt.datetime) -> int:
    errors = [{"line": 0, "external_id": "", "errors": [reason]}]
    with transaction.atomic():
        _lock_deadline()
        ended = _still_as_judged(run).update(
            status=ImportRun.Status.FAILED, errors=errors, finished_at=now, processed=0
        )
        if ended != 1:
            return 0
        audit_record(
            actor=Actor.system(ACTOR_LABEL),
            action="import.failed",
            obj=run,
            now=now,
            changes={"status": [ImportRun.Status.RUNNING, ImportRun.Status.FAILED]},
            reason=reason,
        )
        expire_upload(run, finished_at=now)
    return 1


def _when(moment: dt.datetime | None) -> str:
    return "an unknown time" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def import_uploads_purge(*, now: dt.datetime | None = None) -> int:
    """Delete the bytes of uploads (and any other stored file) past their retention;
    the records stay, stamped `purged_at`. Bounded per call by stored_files."""
    return purge_expired_files(now=resolve_now(now))
