"""Exports of the inventory: recorded in the audit trail (who pulled which filter), and
the large ones written by a worker into a stored file the person downloads later.

A background export is an `ExportRun`: queued by the inventory's download when the
filter selects more than NHI_EXPORT_INLINE_MAX_ROWS paths, claimed by a worker with a
compare-and-set (a redelivered task message never writes it twice), written chunk by
chunk into a `StoredFile` (each chunk committed on its own), its heartbeat and progress
written meanwhile from a thread of its own, then marked done with the file, which is kept
NHI_EXPORT_RETENTION_HOURS. A worker killed half-way stops beating; `exports_recover`
takes the run back (registry/rules/exports.py decides). Every write to a claimed run is
fenced by its attempt number, so a worker wrongly taken for dead cannot finish, fail or
move a run another attempt now owns.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from typing import Any

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import F, QuerySet
from django.dispatch import Signal
from django.utils import timezone

from registry.audit import audit_record
from registry.audit.record import no_such_object
from registry.models import ExportRun, StoredFile
from registry.rules.actors import Actor
from registry.rules.errors import Invalid
from registry.rules.exports import (
    EXPORT_FAILED,
    AfterWorkerLost,
    after_worker_lost,
    file_expires_at,
    stale_running_q,
)
from registry.runtime.heartbeat import Heartbeat
from registry.runtime.stored_files import StoredFileWriter
from registry.selectors import path_list
from registry.selectors.exports import CONTENT_TYPES, export_file_name, export_pieces
from registry.services._common import acting_person, resolve_now

log = logging.getLogger(__name__)

# Sent after a queued export's transaction commits; workers.apps enqueues its task.
export_queued = Signal()

# Stale runs taken back per call of the periodic task.
RECOVER_BATCH = 100


def _check_format(fmt: str) -> None:
    if fmt not in CONTENT_TYPES:
        raise Invalid.single("format", f"Choose one of: {', '.join(CONTENT_TYPES)}.")


@transaction.atomic
def export_streamed(
    *,
    actor: Actor,
    fmt: str,
    filters: Mapping[str, Any],
    rows: int,
    now: dt.datetime | None = None,
) -> None:
    """Record an export streamed in the request (who, which format and filter, how many
    paths): security wants to know who pulled the inventory, however it was pulled."""
    _check_format(fmt)
    audit_record(
        actor=actor,
        action="export.streamed",
        obj=no_such_object(ExportRun),
        now=resolve_now(now),
        changes={"format": [None, fmt], "filter": [None, dict(filters)], "rows": [None, rows]},
    )


def export_request(
    *,
    actor: Actor,
    fmt: str,
    filters: Mapping[str, Any],
    now: dt.datetime | None = None,
) -> ExportRun:
    """Queue an export for a worker (the person's own: only they and security will see
    it). The filter is checked now, so a bad one is refused here, not in the worker.
    The worker is told after the commit (`export_queued`)."""
    now = resolve_now(now)
    _check_format(fmt)
    user = acting_person(actor)
    path_list(actor=actor, filters=filters, now=now)  # raises Invalid on a bad filter
    with transaction.atomic():
        run = ExportRun.objects.create(
            fmt=fmt,
            query=dict(filters),
            requested_by=user,
            actor_label=actor.label[:200],
            created_at=now,
        )
        audit_record(
            actor=actor,
            action="export.requested",
            obj=run,
            now=now,
            changes={"format": [None, fmt], "filter": [None, dict(filters)]},
        )
        transaction.on_commit(lambda: export_queued.send(sender=ExportRun, run_id=str(run.pk)))
    return run


class _TakenOver(Exception):
    """The run was taken back from this worker (its heartbeat was judged stale)."""


def _attempt_of(run_id: Any, attempt: int) -> QuerySet[ExportRun]:
    """The run as long as this attempt still owns it."""
    return ExportRun.objects.filter(pk=run_id, status=ExportRun.Status.RUNNING, attempts=attempt)


class _Heartbeat(Heartbeat):
    """A writing export's heartbeat and progress (runtime/heartbeat.py), every
    NHI_EXPORT_HEARTBEAT_SECONDS and fenced by the attempt. Not from between chunks:
    outside a transaction a server-side cursor is WITH HOLD, so the first rows arrive
    only once PostgreSQL has materialised the whole result, which on a million paths
    can outlast NHI_EXPORT_STALE_SECONDS while the worker is alive. Its progress
    callback raises _TakenOver once a beat found the run taken back."""

    def __init__(self, run_id: Any, attempt: int, clock: Callable[[], dt.datetime]) -> None:
        super().__init__(
            name=f"export-heartbeat-{run_id}", every=settings.NHI_EXPORT_HEARTBEAT_SECONDS
        )
        self.run_id = run_id
        self.attempt = attempt
        self.clock = clock
        self.written = 0
        self.lost = False

    def __call__(self, written: int) -> None:
        self.written = written
        if self.lost:
            raise _TakenOver

    def write(self) -> int:
        return _attempt_of(self.run_id, self.attempt).update(
            heartbeat_at=self.clock(), written=self.written
        )

    def taken_back(self) -> None:
        self.lost = True


def export_run_queued(
    *, run_id: Any, clock: Callable[[], dt.datetime] = timezone.now
) -> ExportRun | None:
    """Write a queued export (the worker's task); None when another worker has it.
        Runs in autocommit: each file chunk commits on its own, the heartbeat beats from
    its own thread."""
    now = clock()
    claimed = ExportRun.objects.filter(pk=run_id, status=ExportRun.Status.QUEUED).update(
        status=ExportRun.Status.RUNNING,
        attempts=F("attempts") + 1,
        started_at=now,
        heartbeat_at=now,
        written=0,
    )
    if claimed != 1:
        return None
    run = ExportRun.objects.select_related("requested_by").get(pk=run_id)
    try:
        _write(run, clock)
    except _TakenOver:
        log.warning("export %s: taken back from this worker, stopped writing", run.pk)
        return None
    except Exception as exc:  # any failure (the time limit too) ends the run with a reason
        log.exception("export %s failed", run.pk)
        _fail_attempt(run, EXPORT_FAILED.format(reason=type(exc).__name__), clock())
    run.refresh_from_db()
    return run


def _write(run: ExportRun, clock: Callable[[], dt.datetime]) -> None:
    # The person's scope as it is now (someone who left the team gets less), the
    # statuses as they were when they asked (what the inventory page showed them).
    actor = Actor.for_user(run.requested_by) if run.requested_by else Actor.system(run.actor_label)
    paths = path_list(actor=actor, filters=run.query, now=run.created_at)
    if not _attempt_of(run.pk, run.attempts).update(total=paths.count()):
        raise _TakenOver
    started = clock()
    writer = StoredFileWriter(
        purpose=StoredFile.Purpose.EXPORT,
        name=export_file_name(run.fmt, run.created_at),
        content_type=CONTENT_TYPES[run.fmt],
        now=started,
        # A file this attempt never finishes is deleted on the same schedule.
        expires_at=file_expires_at(
            finished_at=started, retention_hours=settings.NHI_EXPORT_RETENTION_HOURS
        ),
    )
    with _Heartbeat(run.pk, run.attempts, clock) as beat:
        for piece in export_pieces(paths, run.fmt, progress=beat):
            writer.write(piece)
    finished = clock()
    stored = writer.finish(now=finished)
    StoredFile.objects.filter(pk=stored.pk).update(
        expires_at=file_expires_at(
            finished_at=finished, retention_hours=settings.NHI_EXPORT_RETENTION_HOURS
        )
    )
    done = _attempt_of(run.pk, run.attempts).update(
        status=ExportRun.Status.DONE,
        file=stored,
        written=beat.written,
        heartbeat_at=finished,
        finished_at=finished,
        error="",
    )
    if not done:
        raise _TakenOver


def _fail_attempt(run: ExportRun, reason: str, now: dt.datetime) -> None:
    """End this attempt with a reason; if the database is what failed, the run keeps
    running without a heartbeat and exports_recover takes it back."""
    try:
        _attempt_of(run.pk, run.attempts).update(
            status=ExportRun.Status.FAILED, error=reason, finished_at=now
        )
    except DatabaseError:
        log.warning("export %s: could not record its failure", run.pk, exc_info=True)


def exports_recover(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Queue again, or fail with the reason, every running export whose worker stopped
    beating NHI_EXPORT_STALE_SECONDS ago. Compare-and-set on the attempt and the very
    heartbeat judged stale: a run that beat meanwhile, or that another recoverer took,
    is left alone."""
    now = resolve_now(now)
    stale = ExportRun.objects.filter(
        stale_running_q(now=now, stale_seconds=settings.NHI_EXPORT_STALE_SECONDS)
    ).order_by("heartbeat_at")[:RECOVER_BATCH]
    done = {"requeued": 0, "failed": 0}
    for run in stale:
        decision, reason = after_worker_lost(run, max_attempts=settings.NHI_EXPORT_MAX_ATTEMPTS)
        as_judged = _attempt_of(run.pk, run.attempts).filter(heartbeat_at=run.heartbeat_at)
        if decision is AfterWorkerLost.REQUEUE:
            done["requeued"] += as_judged.update(status=ExportRun.Status.QUEUED)
        else:
            done["failed"] += as_judged.update(
                status=ExportRun.Status.FAILED, error=reason, finished_at=now
            )
    return done
