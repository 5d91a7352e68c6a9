"""Keep credentials out of logs, whatever a library, a request or a mistake puts in them.

Redaction happens on the final text a handler writes (message with its arguments,
exception traceback, stack info), through the same detector that guards every input
(`registry.rules.secret_scan.redact`), so a log line cannot carry what a form would refuse.

Request lines arrive percent-encoded (`?q=%67hp_…`); the detector decodes `%XX` itself
and points at the raw text, so the line keeps the form the client sent.

Used by: Django's LOGGING (`RedactingFormatter`), gunicorn (`config/gunicorn_conf.py`)
and the Celery worker and beat (`workers/logging_setup.py`, via `redact_handlers`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.utils.log import ServerFormatter

from registry.rules.secret_scan import redact

REDACTED = "[REDACTED]"


def redact_text(text: str) -> str:
    """`text` with every credential replaced by [REDACTED], percent-encoded ones too (the
    detector sees through %XX itself), keeping the rest as the client sent it."""
    return redact(text)


class RedactingFormatter(logging.Formatter):
    """A `logging.Formatter` whose output (traceback and stack included) is redacted."""

    def format(self, record: logging.LogRecord) -> str:
        return redact_text(super().format(record))


class RedactingServerFormatter(ServerFormatter):
    """Django's runserver request log (`django.server`), redacted."""

    def format(self, record: logging.LogRecord) -> str:
        return redact_text(super().format(record))


class Redacted(logging.Formatter):
    """Wraps another handler's formatter (Celery's, gunicorn's) and redacts its output."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        return redact_text(self.inner.format(record))


def redact_handler(handler: logging.Handler) -> None:
    """Make `handler` write redacted text, keeping its own format. Idempotent."""
    formatter = handler.formatter
    if isinstance(formatter, RedactingFormatter | RedactingServerFormatter | Redacted):
        return
    # A handler without a formatter uses logging's default one.
    handler.setFormatter(Redacted(formatter or logging.Formatter()))


def redact_handlers(loggers: Iterable[logging.Logger]) -> None:
    for logger in loggers:
        for handler in logger.handlers:
            redact_handler(handler)


def every_logger() -> list[logging.Logger]:
    """The root logger and every logger created so far."""
    manager = logging.root.manager
    named = [lg for lg in list(manager.loggerDict.values()) if isinstance(lg, logging.Logger)]
    return [logging.root, *named]
