"""The worker's and beat's logs are redacted like every other log.

Celery replaces the root logger's handlers with its own when a worker or beat starts
(`worker_hijack_root_logger`), so Django's redacting LOGGING no longer applies; these
receivers wrap the formatter of every handler Celery installs (and of any other logger's
handler) in `registry.runtime.log_redaction.Redacted`, which redacts the final line, exception
traceback included. Connected by importing this module (workers/celery.py does).
"""

from __future__ import annotations

import logging

from celery.signals import after_setup_logger, after_setup_task_logger

from registry.runtime.log_redaction import every_logger, redact_handlers


@after_setup_logger.connect(weak=False)
@after_setup_task_logger.connect(weak=False)
def redact_celery_logs(logger: logging.Logger | None = None, **kwargs) -> None:
    """Root's handlers (Celery's) or the task logger's, plus those of the multiprocessing
    logger and of any library logger that brought its own."""
    redact_handlers([logger] if logger is not None else [])
    redact_handlers(every_logger())
