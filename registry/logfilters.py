"""Keep credentials out of logs, whatever a library, a request or a mistake puts in them.

Redaction happens on the final text a handler writes (message with its arguments,
exception traceback, stack info), through the same detector that guards every input
(`registry.secret_scan.redact`), so a log line cannot carry what a form would refuse.

Request lines arrive percent-encoded (`?q=%67hp_…`), so text holding `%XX` escapes is
also checked decoded; a credential found there is redacted in the raw text, which keeps
the line as the client sent it. (A detector that decodes by itself, as the full rule set
does, is left to it: this module checks once, at import, with a probe.)

Used by: Django's LOGGING (`RedactingFormatter`), gunicorn (`config/gunicorn_conf.py`)
and the Celery worker and beat (`workers/logging_setup.py`, via `redact_handlers`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from django.utils.log import ServerFormatter

from registry.secret_scan import find_secret, redact

REDACTED = "[REDACTED]"
_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
# `%2567` is `%67` once decoded, which is `g`: a few rounds catch double encoding.
_DECODE_ROUNDS = 3
# Each finding masks at least one character; this many means something is off.
_MAX_FINDINGS = 64


def _detector_decodes() -> bool:
    """Whether `redact` already sees through percent-encoding (then this module need not)."""
    probe = "%67hp_" + "Zq8Lw3Rt5Yp1Xk7Vn2Mb4Hc6Jd9Fg0Se3Ua5"
    return redact(probe) != probe


_DETECTOR_DECODES = _detector_decodes()


def redact_text(text: str) -> str:
    """`text` with every credential replaced by [REDACTED], also percent-encoded ones."""
    text = redact(text)
    if _DETECTOR_DECODES or _ESCAPE.search(text) is None:
        return text
    return _redact_encoded(text)


def _percent_decode(text: str, origin: list[int]) -> tuple[str, list[int]]:
    """One round of %XX decoding. `origin[i]` is where character i of `text` starts in the
    raw text (plus a final entry for its end); the result carries the same map."""
    chars: list[str] = []
    starts: list[int] = []
    i, end = 0, len(text)
    while i < end:
        if text[i] == "%" and _ESCAPE.match(text, i):
            # One byte, one character: credentials are ASCII, and positions stay exact.
            chars.append(chr(int(text[i + 1 : i + 3], 16)))
            starts.append(origin[i])
            i += 3
        else:
            chars.append(text[i])
            starts.append(origin[i])
            i += 1
    starts.append(origin[end])
    return "".join(chars), starts


def _redact_encoded(raw: str) -> str:
    decoded, origin = raw, list(range(len(raw) + 1))
    spans: list[tuple[int, int]] = []
    for _ in range(_DECODE_ROUNDS):
        if _ESCAPE.search(decoded) is None:
            break
        decoded, origin = _percent_decode(decoded, origin)
        masked = list(decoded)
        for _ in range(_MAX_FINDINGS):
            finding = find_secret("".join(masked))
            if finding is None:
                break
            spans.append((origin[finding.start], origin[finding.end]))
            masked[finding.start : finding.end] = " " * (finding.end - finding.start)
        else:
            return REDACTED
        remainder = "".join(masked)
        if redact(remainder) != remainder:
            # The detector redacts something find_secret does not point at: give up on
            # keeping the raw form and log the decoded text, redacted.
            return redact(decoded)
    return _replace_spans(raw, spans)


def _replace_spans(text: str, spans: Iterable[tuple[int, int]]) -> str:
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    for start, end in reversed(merged):
        text = text[:start] + REDACTED + text[end:]
    return text


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
