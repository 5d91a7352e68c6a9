"""Celery tasks: thin wrappers that call one service each (house rule 5)."""

from celery import shared_task
from django.db import OperationalError

from registry.runtime.progress import set_progress
from registry.runtime.request_id import request_context
from registry.selectors import queued_imports
from registry.services.channels import team_channel_test_run
from registry.services.delivery import deliver
from registry.services.import_queue import import_run_queued
from registry.services.sweep import sweep
from workers.channels import send
from workers.siem import anchor_and_publish

# A database that is briefly unreachable is worth retrying; anything else is a bug and
# should surface. Both tasks are idempotent, so a retry can never double anything.
RETRY = {"autoretry_for": (OperationalError,), "retry_backoff": True, "max_retries": 5}
# An import of a large estate may take longer than the default task deadline
# (CELERY_TASK_SOFT_TIME_LIMIT); it still has one.
IMPORT_LIMITS = {"soft_time_limit": 3600, "time_limit": 3660}


@shared_task(name="registry.sweep", **RETRY)
def sweep_task() -> dict:
    with request_context():
        return sweep()


@shared_task(name="registry.deliver", **RETRY)
def deliver_task() -> dict:
    with request_context():
        return deliver(send=send)


@shared_task(name="registry.import_paths", **RETRY, **IMPORT_LIMITS)
def import_task(run_id: str) -> dict | None:
    with request_context():
        report = import_run_queued(
            run_id=run_id, progress=lambda done, total: set_progress(run_id, done, total)
        )
    return None if report is None else dict(report.counts)


@shared_task(name="registry.imports_pending", **RETRY)
def imports_pending_task() -> int:
    """Queued imports whose wake-up message was lost (broker down at upload time)."""
    pending = queued_imports()
    for run_id in pending:
        import_task(run_id)
    return len(pending)


@shared_task(name="registry.anchor_audit", **RETRY)
def anchor_audit_task() -> dict:
    """Sign the audit chain's head into the anchor sink and forward it to the SIEM."""
    return anchor_and_publish()


@shared_task(name="registry.channel_test", **RETRY)
def channel_test_task(test_id: str) -> dict | None:
    """A test message on one team channel, off the web request (the page polls)."""
    with request_context():
        return team_channel_test_run(test_id=test_id)
