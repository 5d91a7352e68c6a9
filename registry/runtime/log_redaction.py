"""Keep credentials out of logs, whatever a library, a request or a mistake puts in them.

Redaction happens on the final text a handler writes (message with its arguments,
exception traceback, stack info), through the same detector that guards every input
(`registry.rules.secret_scan.redact`), so a log line cannot carry what a form would refuse.

Request lines arrive percent-encoded (`?q=%67hp_…`); the detector decodes `%XX` itself
and points at the raw text, so the line keeps the form the client sent.

JSON lines (`RedactingJsonFormatter`, LOG_FORMAT=json, the default without DEBUG) keep
the same guarantee: every string field (message, exception text, stack, any `extra`,
anything else turned into text) is redacted before the line is serialised, and the
serialised line is checked once more as a whole.

Used by: Django's LOGGING (`RedactingFormatter`, `RedactingJsonFormatter`), gunicorn
(`config/gunicorn_conf.py`) and the Celery worker and beat (`workers/logging_setup.py`,
via `redact_handlers`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.utils.log import ServerFormatter
from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from registry.rules.secret_scan import redact
from registry.runtime.log_context import add_context_filter

REDACTED = "[REDACTED]"


def redact_text(text: str) -> str:
    """`text` with every credential replaced by [REDACTED], percent-encoded ones too (the
    detector sees through %XX itself), keeping the rest as the client sent it."""
    return redact(text)


class RedactingFormatter(logging.Formatter):
    """A `logging.Formatter` whose output (traceback and stack included) is redacted."""

    def format(self, record: logging.LogRecord) -> str:
        return redact_text(super().format(record))


# The fields of every JSON line, in this order; the log context's fields
# (registry/runtime/log_context.py), any `extra` and "time" (ISO 8601, UTC) follow.
JSON_FIELDS = ("levelname", "name", "message")


def _redacted_value(value: Any) -> Any:
    """`value` ready for JSON with every credential out of it: strings redacted, containers
    walked, anything else that is not a plain JSON value turned into redacted text."""
    if isinstance(value, str):
        return redact_text(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, dict):
        return {str(key): _redacted_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redacted_value(item) for item in value]
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return redact_text(str(value))


class RedactingJsonFormatter(JsonFormatter):
    """One JSON object per line, every field redacted (see the module's docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("fmt", list(JSON_FIELDS))
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger"})
        kwargs.setdefault("timestamp", "time")
        # Django's request and runserver's socket ride along as `extra`: the message
        # already says what matters about them.
        kwargs.setdefault("reserved_attrs", [*RESERVED_ATTRS, "request"])
        super().__init__(*args, **kwargs)

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        return {key: _redacted_value(value) for key, value in log_data.items()}

    def format(self, record: logging.LogRecord) -> str:
        # Belt and braces: the fields are already clean, so this normally finds nothing.
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
    if isinstance(
        formatter,
        RedactingFormatter | RedactingServerFormatter | RedactingJsonFormatter | Redacted,
    ):
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


def format_handlers(loggers: Iterable[logging.Logger]) -> None:
    """Give handlers installed outside Django's LOGGING (Celery's, gunicorn's error log)
    the same lines as Django's: the log context on every record and, with
    LOG_FORMAT=json, the redacting JSON formatter; with text, their own format,
    redacted. Idempotent."""
    json_lines = getattr(settings, "LOG_FORMAT", "json") == "json"
    for logger in loggers:
        for handler in logger.handlers:
            add_context_filter(handler)
            if json_lines and not isinstance(handler.formatter, RedactingJsonFormatter):
                handler.setFormatter(RedactingJsonFormatter())
            redact_handler(handler)
