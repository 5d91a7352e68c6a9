import logging

from django.apps import AppConfig

log = logging.getLogger(__name__)


def kick_delivery(**kwargs) -> None:
    """Ask a worker to deliver now. If the broker is down the write has still
    succeeded and the outbox keeps the rows; the periodic delivery catches up."""
    from kombu.exceptions import OperationalError

    from workers.tasks import deliver_task

    try:
        deliver_task.apply_async(retry=False)
    except (OperationalError, OSError) as exc:
        log.warning("broker unavailable, delivery will catch up on schedule: %s", exc)


def kick_import(run_id: str, **kwargs) -> None:
    """Ask a worker to run a queued import now; if the broker is down, the periodic
    `registry.imports_pending` task picks it up."""
    from kombu.exceptions import OperationalError

    from workers.tasks import import_task

    try:
        import_task.apply_async(args=[run_id], retry=False)
    except (OperationalError, OSError) as exc:
        log.warning("broker unavailable, the import will start on schedule: %s", exc)


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
        from registry.services.import_queue import import_queued

        outbox_written.connect(kick_delivery, dispatch_uid="workers.kick_delivery")
        import_queued.connect(kick_import, dispatch_uid="workers.kick_import")
        channel_test_queued.connect(kick_channel_test, dispatch_uid="workers.kick_channel_test")
