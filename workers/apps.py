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


class WorkersConfig(AppConfig):
    name = "workers"
    verbose_name = "Background workers"

    def ready(self) -> None:
        from registry.outbox import outbox_written

        outbox_written.connect(kick_delivery, dispatch_uid="workers.kick_delivery")
