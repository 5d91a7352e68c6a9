"""The worker's and beat's logs: redacted like every other log, in the same format
(LOG_FORMAT: JSON lines by default), with the task's id and name on every line.

Celery replaces the root logger's handlers with its own when a worker or beat starts
(`worker_hijack_root_logger`), so Django's LOGGING no longer applies; these receivers
give every handler Celery installs (and any other logger's handler) the log context
filter (registry/runtime/log_context.py) and a redacting formatter: with LOG_FORMAT=json
the redacting JSON formatter, with text Celery's own format wrapped in
`registry.runtime.log_redaction.Redacted`, which redacts the final line, traceback
included. Connected by importing this module (workers/celery.py does).

`task_prerun`/`task_postrun` bind the running task's id and name for the lines logged
while it runs (in the process that runs it: the pool's child under prefork).
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from celery.signals import after_setup_logger, after_setup_task_logger, task_postrun, task_prerun

from registry.runtime.log_context import bind_task, unbind_task
from registry.runtime.log_redaction import every_logger, format_handlers

# Tokens to undo each task's binding, by task id (a task runs in one thread at a time
# per id; postrun may not come for a task killed by its hard time limit, and the next
# prerun in that process simply binds anew).
_bound: dict[str, Any] = {}


@after_setup_logger.connect(weak=False)
@after_setup_task_logger.connect(weak=False)
def redact_celery_logs(logger: logging.Logger | None = None, **kwargs: Any) -> None:
    """Root's handlers (Celery's) or the task logger's, plus those of the multiprocessing
    logger and of any library logger that brought its own."""
    format_handlers([logger] if logger is not None else [])
    format_handlers(every_logger())


@task_prerun.connect(weak=False)
def bind_task_context(task_id: str | None = None, task: Any = None, **kwargs: Any) -> None:
    if task_id:
        _bound[task_id] = bind_task(task_id, getattr(task, "name", "") or "")


@task_postrun.connect(weak=False)
def unbind_task_context(task_id: str | None = None, **kwargs: Any) -> None:
    tokens = _bound.pop(task_id or "", None)
    if tokens is not None:
        # Bound in another context (a thread pool's other thread): nothing to undo here.
        with contextlib.suppress(ValueError):
            unbind_task(tokens)
