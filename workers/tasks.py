"""Celery tasks: thin wrappers that call one service each (house rule 5)."""

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.db import OperationalError

from registry.runtime.progress import set_progress
from registry.runtime.request_id import request_context
from registry.selectors import queued_imports
from registry.selectors.exports import queued_exports
from registry.services.channels import team_channel_test_run
from registry.services.delivery import deliver
from registry.services.exports import export_run_queued, exports_recover
from registry.services.import_queue import import_run_queued
from registry.services.import_recovery import import_uploads_purge, imports_recover
from registry.services.job_ticks import beat_tick, records_tick
from registry.services.leases import leases_purge
from registry.services.sweep_schedule import sweep_scheduled
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
    """Never two at once: a run that finds the previous one still going returns at once,
    saying so (services/sweep_schedule.py); the run that works records the tick."""
    with request_context():
        return sweep_scheduled()


@shared_task(name="registry.deliver", **RETRY)
@records_tick("deliver")
def deliver_task() -> dict:
    soft_limit = deliver_task.soft_time_limit or deliver_task.app.conf.task_soft_time_limit
    with request_context():
        try:
            return deliver(send=send, time_limit=soft_limit, interrupts=(SoftTimeLimitExceeded,))
        except SoftTimeLimitExceeded:
            # The run released the rows it had not started; the next run sends them.
            return {"interrupted": 1}


@shared_task(name="registry.import_paths", **RETRY, **IMPORT_LIMITS)
def import_task(run_id: str) -> dict | None:
    with request_context():
        report = import_run_queued(
            run_id=run_id, progress=lambda done, total: set_progress(run_id, done, total)
        )
    return None if report is None else dict(report.counts)


@shared_task(name="registry.imports_pending", **RETRY)
@records_tick("imports")
def imports_pending_task() -> dict:
    """Runs whose worker died are queued again (or failed), ended runs' uploads past
    their retention deleted, and every queued import sent to a worker: those whose
    wake-up message was lost (broker down at upload time) and those just queued again.
    Each import runs as its own task, under the import's deadline, not this one's."""
    with request_context():
        done = imports_recover()
        done["purged"] = import_uploads_purge()
        pending = queued_imports()
        for run_id in pending:
            import_task.apply_async(args=[run_id])
    return {**done, "queued": len(pending)}


# Writing a million-path export takes minutes, not seconds; it still has a deadline.
EXPORT_LIMITS = {"soft_time_limit": 3600, "time_limit": 3660}


@shared_task(name="registry.export_paths", **RETRY, **EXPORT_LIMITS)
def export_task(run_id: str) -> str | None:
    """Write a queued export into its stored file (the person's page polls)."""
    with request_context():
        run = export_run_queued(run_id=run_id)
    return None if run is None else run.status


@shared_task(name="registry.exports_pending", **RETRY)
@records_tick("exports")
def exports_pending_task() -> dict:
    """Exports whose worker died are queued again (or failed), and every queued export
    is sent to a worker: those whose wake-up message was lost and those just queued
    again. Each export runs as its own task, under the export's deadline. (Files past
    their retention are deleted by the imports task's purge, which covers every file.)"""
    with request_context():
        done = exports_recover()
        pending = queued_exports()
        for run_id in pending:
            export_task.apply_async(args=[run_id])
    return {**done, "queued": len(pending)}


@shared_task(name="registry.anchor_audit", **RETRY)
@records_tick("anchor")
def anchor_audit_task() -> dict:
    """Sign the audit chain's head into the anchor sink and forward it to the SIEM."""
    return anchor_and_publish()


@shared_task(name="registry.leases_purge", **RETRY)
@records_tick("leases")
def leases_purge_task() -> dict:
    """Raw leases past their retention deleted in bounded batches (their hourly rollups
    stay); under the default task deadline, and what is left goes at the next run."""
    with request_context():
        return {"purged": leases_purge()}


@shared_task(name="registry.channel_test", **RETRY)
def channel_test_task(test_id: str) -> dict | None:
    """A test message on one team channel, off the web request (the page polls)."""
    with request_context():
        return team_channel_test_run(test_id=test_id)


@shared_task(name="registry.beat_tick", soft_time_limit=20, time_limit=30)
def beat_tick_task() -> None:
    """Beat's heartbeat (NHI_BEAT_TICK_SECONDS): /readyz and the metrics read its age."""
    beat_tick()
