"""Import runs in production: when a running import's worker is taken for dead, whether
its run may be tried again, and how long its upload is kept.

The one home of these decisions: services/import_recovery.py acts on them (and the
heartbeat that keeps a live run from looking dead), services/imports.py applies the
retention when a run ends, and the run's page states it.
"""

from __future__ import annotations

import datetime as dt
from enum import Enum

from django.db.models import Q

from registry.models import ImportRun, StoredFile
from registry.rules import errors

# What a run says when it ends without having imported anything (constants the tests
# assert on; the run's page shows them as the file's error).
WORKER_STOPPED_TOO_OFTEN = (
    "The worker running this import stopped {attempts} times (killed or out of memory); "
    "nothing was changed. Upload a smaller file or ask an operator to check the workers."
)
PROCESS_STOPPED = (
    "The process running this import stopped before it finished; nothing was changed. Run it again."
)
UPLOAD_GONE = "The uploaded file is no longer there: upload it again."
UPLOADED_BEFORE_UPGRADE = (
    "This file was uploaded before the registry kept uploads in its database, and no "
    "worker can read it any more: upload it again."
)


class AfterWorkerLost(Enum):
    """What becomes of a running import whose worker stopped beating."""

    REQUEUE = "requeue"
    FAIL = "fail"


def stale_running_q(*, now: dt.datetime, stale_seconds: float) -> Q:
    """Running imports whose worker is taken for dead: no heartbeat for `stale_seconds`
    (the `importrun_running` partial index serves it). A running run without any
    heartbeat was claimed before heartbeats existed (an upgrade): its worker is gone too."""
    cutoff = now - dt.timedelta(seconds=stale_seconds)
    return Q(status=ImportRun.Status.RUNNING) & (
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True)
    )


def upload_readable(upload: StoredFile | None) -> bool:
    """A worker can still read the whole upload (written completely, not purged)."""
    return upload is not None and upload.completed_at is not None and upload.purged_at is None


def after_worker_lost(run: ImportRun, *, max_attempts: int) -> tuple[AfterWorkerLost, str]:
    """Retry a run whose worker died while it has attempts left and its upload to read
    again; otherwise fail it, saying why. Its import ran in one transaction, so a dead
    worker changed nothing and a retry starts clean."""
    if run.upload_id is None:
        # Nothing a worker could read again: `manage.py import_paths` read a local
        # file, or the run predates uploads kept in the database.
        return AfterWorkerLost.FAIL, PROCESS_STOPPED
    if not upload_readable(run.upload):
        return AfterWorkerLost.FAIL, UPLOAD_GONE
    if run.attempts >= max_attempts:
        return AfterWorkerLost.FAIL, WORKER_STOPPED_TOO_OFTEN.format(attempts=run.attempts)
    return AfterWorkerLost.REQUEUE, ""


def upload_expires_at(
    *, finished_at: dt.datetime, retention_hours: float, errors_found: list[dict]
) -> dt.datetime:
    """When an ended run's upload may be deleted: long enough to look at what was
    imported, never forever (an upload may hold anything a source exported). A file in
    which the import found a credential is deleted at the next purge: the registry
    keeps no credential, not even for a week in an upload."""
    if held_a_credential(errors_found):
        return finished_at
    return finished_at + dt.timedelta(hours=retention_hours)


_SECRET_REFUSAL = errors.LOOKS_LIKE_SECRET.split("{", 1)[0]


def held_a_credential(errors_found: list[dict]) -> bool:
    """Did the import refuse a value of the file as a credential (rules/validation.py)?
    Row errors read "field: message"; the report keeps the first MAX_REPORTED_ERRORS."""
    return any(
        _SECRET_REFUSAL in str(message)
        for row in errors_found
        for messages in _messages(row)
        for message in messages
    )


def _messages(row: dict) -> list[list]:
    found = row.get("errors", [])
    if isinstance(found, dict):
        return [m if isinstance(m, list) else [m] for m in found.values()]
    return [found if isinstance(found, list) else [found]]
