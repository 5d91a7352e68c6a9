import datetime as dt
import logging
import threading

from django.apps import AppConfig

log = logging.getLogger(__name__)

# The coalescing slot's end this process last asked a run for: every write of a burst
# waits for the same moment, and one run then sends them all.
_kicked: dict[str, dt.datetime | None] = {"at": None}
_kicked_lock = threading.Lock()


def kick_delivery(due_at: dt.datetime | None = None, coalesced: bool = False, **kwargs) -> None:
    """Ask a worker to deliver when the new rows are due. If the broker is down the
    write has still succeeded and the outbox keeps the rows; the periodic delivery
    catches up."""
    from django.utils import timezone
    from kombu.exceptions import OperationalError

    from workers.tasks import deliver_task

    with _kicked_lock:
        if coalesced and _kicked["at"] == due_at:
            return  # a run at that moment is already asked for
    wait = 0.0 if due_at is None else (due_at - timezone.now()).total_seconds()
    try:
        deliver_task.apply_async(countdown=wait if wait > 0 else None, retry=False)
    except (OperationalError, OSError) as exc:
        log.warning("broker unavailable, delivery will catch up on schedule: %s", exc)
        return
    if coalesced:
        with _kicked_lock:
            _kicked["at"] = due_at


def kick_import(run_id: str, **kwargs) -> None:
    """Ask a worker to run a queued import now; if the broker is down, the periodic
    `registry.imports_pending` task picks it up."""
    from kombu.exceptions import OperationalError

    from workers.tasks import import_task

    try:
        import_task.apply_async(args=[run_id], retry=False)
    except (OperationalError, OSError) as exc:
        log.warning("broker unavailable, the import will start on schedule: %s", exc)


def kick_export(run_id: str, **kwargs) -> None:
    """Ask a worker to write a queued export now; if the broker is down, the periodic
    `registry.exports_pending` task sends it."""
    from kombu.exceptions import OperationalError

    from workers.tasks import export_task

    try:
        export_task.apply_async(args=[run_id], retry=False)
    except (OperationalError, OSError) as exc:
        log.warning("broker unavailable, the export will start on schedule: %s", exc)


def kick_channel_test(test_id: str, **kwargs) -> None:
    """Ask a worker to send a queued test message. If the broker is down the page says
    the test is still waiting; the person may try again."""
    from kombu.exceptions import OperationalError

    from workers.tasks import channel_test_task

    try:
        channel_test_task.apply_async(args=[test_id], retry=False)
    except (OperationalError, OSError) as exc:
        log.warning("broker unavailable, the test message was not sent: %s", exc)


class WorkersConfig(AppConfig):
    name = "workers"
    verbose_name = "Background workers"

    def ready(self) -> None:
        from registry.notifications.outbox import outbox_written
        from registry.services.channels import channel_test_queued
        from registry.services.exports import export_queued
        from registry.services.import_queue import import_queued

        outbox_written.connect(kick_delivery, dispatch_uid="workers.kick_delivery")
        import_queued.connect(kick_import, dispatch_uid="workers.kick_import")
        export_queued.connect(kick_export, dispatch_uid="workers.kick_export")
        channel_test_queued.connect(kick_channel_test, dispatch_uid="workers.kick_channel_test")
