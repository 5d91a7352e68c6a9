"""Exports of the inventory: which are written in the request and which by a worker, who
may see a background export, when its worker is taken for dead and whether it is tried
again. The one home of these decisions: the inventory view, services/exports.py and the
export's page act on them.

Kept apart from registry/rules/imports.py on purpose: an import is retried from its
upload inside one transaction, an export is simply written again from the database;
only the "no heartbeat for N seconds" shape is shared, and it is one line.
"""

from __future__ import annotations

import datetime as dt
from enum import Enum

from django.db.models import Q

from registry.models import ExportRun
from registry.rules.actors import Actor

# What a run says when it ends without a file (constants the tests assert on; the run's
# page shows them).
WORKER_STOPPED_TOO_OFTEN = (
    "The worker writing this export stopped {attempts} times (killed or out of memory). "
    "Export a narrower filter, or ask an operator to check the workers."
)
EXPORT_FAILED = "The export could not be written ({reason}). Ask for it again."
EXPORT_NOT_READY = "This export is not finished yet."
EXPORT_PURGED = (
    "This export's file was deleted after its retention (NHI_EXPORT_RETENTION_HOURS). "
    "Export again from the inventory."
)


def runs_in_background(counted: int, *, inline_max_rows: int) -> bool:
    """An export of more than `inline_max_rows` paths is written by a worker: streamed
    in the request it could outlive the web server's timeout and arrive cut short with
    a 200. `counted` may stop at `inline_max_rows + 1` (a bounded count)."""
    return counted > inline_max_rows


def may_read_export(actor: Actor, run: ExportRun) -> bool:
    """Only the person who asked, or security, sees a background export (its page and
    its file); anyone else is told it does not exist."""
    if actor.is_security_reviewer:
        return True
    return actor.user is not None and run.requested_by_id == actor.user.pk


class AfterWorkerLost(Enum):
    """What becomes of a running export whose worker stopped beating."""

    REQUEUE = "requeue"
    FAIL = "fail"


def stale_running_q(*, now: dt.datetime, stale_seconds: float) -> Q:
    """Running exports whose worker is taken for dead: no heartbeat for `stale_seconds`
    (the `exportrun_running` partial index serves it)."""
    cutoff = now - dt.timedelta(seconds=stale_seconds)
    return Q(status=ExportRun.Status.RUNNING) & (
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True)
    )


def after_worker_lost(run: ExportRun, *, max_attempts: int) -> tuple[AfterWorkerLost, str]:
    """Write it again while it has attempts left (an export changes nothing, so a new
    attempt starts clean with a new file); otherwise fail it, saying why."""
    if run.attempts >= max_attempts:
        return AfterWorkerLost.FAIL, WORKER_STOPPED_TOO_OFTEN.format(attempts=run.attempts)
    return AfterWorkerLost.REQUEUE, ""


def file_expires_at(*, finished_at: dt.datetime, retention_hours: float) -> dt.datetime:
    """When a finished export's file may be deleted: a copy of the inventory should not
    be kept in the database forever."""
    return finished_at + dt.timedelta(hours=retention_hours)
