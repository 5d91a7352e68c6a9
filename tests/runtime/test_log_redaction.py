"""Logs never carry a credential: the redaction every log handler applies to its final
text (registry/runtime/log_redaction.py), Django's LOGGING, gunicorn's logger class and the Celery
signal hookup. tests/processes/test_log_redaction_processes.py checks the same on real
processes."""

import io
import json
import logging
import secrets
import string
import sys

import pytest
from celery.signals import after_setup_logger, after_setup_task_logger
from gunicorn.config import Config

from config import gunicorn_conf
from registry.rules import token_format
from registry.runtime.log_redaction import (
    REDACTED,
    Redacted,
    RedactingFormatter,
    RedactingJsonFormatter,
    RedactingServerFormatter,
    redact_handler,
    redact_text,
)
from workers import logging_setup

_ALNUM = string.ascii_letters + string.digits


def github_token() -> str:
    return "ghp_" + "".join(secrets.choice(_ALNUM) for _ in range(36))


def encoded(text: str) -> str:
    return "".join(f"%{ord(c):02X}" for c in text)


def record(msg, args=(), exc_info=None, name="django.request", **extra):
    rec = logging.LogRecord(name, logging.WARNING, __file__, 1, msg, args, exc_info)
    rec.__dict__.update(extra)
    return rec


def own_handlers(logger: logging.Logger) -> list[logging.Handler]:
    """The logger's handlers, without those pytest adds to capture output."""
    return [h for h in logger.handlers if not type(h).__module__.startswith("_pytest")]


# --- the text ---------------------------------------------------------------------------


def test_redacts_tokens_in_clear_and_keeps_the_rest():
    github, registry_token = github_token(), token_format.generate()
    text = f"GET /api/v1/access-paths/?q={github}&t={registry_token} HTTP/1.1"
    assert redact_text(text) == f"GET /api/v1/access-paths/?q={REDACTED}&t={REDACTED} HTTP/1.1"


@pytest.mark.parametrize(
    "disguise",
    [
        pytest.param(lambda t: f"%{ord(t[0]):02X}" + t[1:], id="first-character"),
        pytest.param(lambda t: t[:4] + "%" + format(ord(t[4]), "02x") + t[5:], id="lowercase-hex"),
        pytest.param(encoded, id="every-character"),
        pytest.param(lambda t: encoded(t).replace("%", "%25"), id="double-encoded"),
    ],
)
def test_redacts_percent_encoded_tokens_in_the_raw_text(disguise):
    github, registry_token = github_token(), token_format.generate()
    raw = f'"GET /p/{disguise(github)}/?q={disguise(registry_token)}&page=2%2F3 HTTP/1.1" 200'
    assert redact_text(raw) == f'"GET /p/{REDACTED}/?q={REDACTED}&page=2%2F3 HTTP/1.1" 200'


def test_text_without_a_credential_is_unchanged():
    for text in (
        "GET /api/v1/access-paths/?q=billing%20export&page=2 HTTP/1.1",
        "100% done, 50%ok, %zz and a lone % at the end %",
        "ghp_tooshort nhir_tooshort",
    ):
        assert redact_text(text) == text


# --- formatters and Django's LOGGING ----------------------------------------------------


def test_formatter_redacts_message_arguments_traceback_and_stack():
    github, registry_token = github_token(), token_format.generate()
    try:
        raise ValueError(f"upstream rejected {github}")
    except ValueError:
        exc_info = sys.exc_info()
    rec = record(
        "Bad request with %s for %s",
        (f"Authorization: Bearer {registry_token}", "/api/v1/me/"),
        exc_info,
        stack_info=f"Stack (most recent call last):\n  token = {registry_token}",
    )
    text = RedactingFormatter("%(levelname)s %(message)s").format(rec)
    assert github not in text and registry_token not in text
    assert text.startswith(f"WARNING Bad request with Authorization: Bearer {REDACTED} for ")
    assert f"ValueError: upstream rejected {REDACTED}" in text
    assert f"token = {REDACTED}" in text


def test_django_logging_writes_redacted_json_lines(settings):
    """Without DEBUG the console writes JSON (LOG_FORMAT=json), redacted field by field."""
    assert settings.LOG_FORMAT == "json"
    assert settings.LOGGING["handlers"]["console"]["formatter"] == "json"
    assert (
        settings.LOGGING["formatters"]["json"]["()"]
        == "registry.runtime.log_redaction.RedactingJsonFormatter"
    )
    (console,) = own_handlers(logging.getLogger())
    assert isinstance(console.formatter, RedactingJsonFormatter)
    # Django's own logger has no handler of its own any more: it writes through root's.
    assert own_handlers(logging.getLogger("django")) == []
    registry_token = token_format.generate()
    buffer = io.StringIO()
    previous = console.setStream(buffer)
    try:
        logging.getLogger("django.request").warning("Not Found: /t/%s", registry_token)
    finally:
        console.setStream(previous)
    line = json.loads(buffer.getvalue())
    assert registry_token not in buffer.getvalue()
    assert (line["level"], line["logger"]) == ("WARNING", "django.request")
    assert line["message"] == f"Not Found: /t/{REDACTED}"


def test_the_text_format_is_redacted_too():
    """LOG_FORMAT=text (the default with DEBUG, `make run`): the same guarantee."""
    registry_token = token_format.generate()
    rec = record("Not Found: /t/%s", (registry_token,), request_id="r-1")
    text = RedactingFormatter("%(levelname)s %(name)s [%(request_id)s] %(message)s").format(rec)
    assert text == f"WARNING django.request [r-1] Not Found: /t/{REDACTED}"


def test_runserver_request_log_is_redacted():
    (handler,) = own_handlers(logging.getLogger("django.server"))
    assert isinstance(handler.formatter, RedactingServerFormatter)
    github = github_token()
    rec = record('"GET /?q=%s&p=2 HTTP/1.1" 200 5', ("%67" + github[1:],), name="django.server")
    rec.server_time = "22/Nov/2026 12:00:00"
    assert handler.format(rec) == f'[22/Nov/2026 12:00:00] "GET /?q={REDACTED}&p=2 HTTP/1.1" 200 5'


def test_wrapping_a_handler_keeps_its_format_and_is_idempotent():
    handler = logging.StreamHandler(io.StringIO())
    handler.setFormatter(logging.Formatter("<%(name)s> %(message)s"))
    redact_handler(handler)
    wrapped = handler.formatter
    redact_handler(handler)
    assert handler.formatter is wrapped
    assert isinstance(wrapped, Redacted)
    registry_token = token_format.generate()
    assert handler.format(record("t=%s", (registry_token,), name="x")) == f"<x> t={REDACTED}"
    bare = logging.StreamHandler(io.StringIO())
    redact_handler(bare)
    assert bare.format(record("t=%s", (registry_token,))) == f"t={REDACTED}"


# --- gunicorn ---------------------------------------------------------------------------


def test_gunicorn_config_uses_the_redacting_logger():
    assert gunicorn_conf.logger_class is gunicorn_conf.RedactingLogger
    assert gunicorn_conf.accesslog == "-"
    assert 0 < gunicorn_conf.graceful_timeout < gunicorn_conf.timeout <= 60
    config = Config()
    config.set("logger_class", gunicorn_conf.RedactingLogger)
    assert config.logger_class is gunicorn_conf.RedactingLogger


def test_gunicorn_access_atoms_and_error_log_are_redacted(capsys):
    github, registry_token = github_token(), token_format.generate()
    config = Config()
    config.set("accesslog", "-")
    logger = gunicorn_conf.RedactingLogger(config)
    try:
        atoms = logger.atoms_wrapper_class(
            {
                "r": f"GET /x/?q={encoded(github)}&page=2 HTTP/1.1",
                "{authorization}i": f"Bearer {registry_token}",
                "{query_string}e": f"q={github}",
                "s": 200,
            }
        )
        assert atoms["r"] == f"GET /x/?q={REDACTED}&page=2 HTTP/1.1"
        assert atoms["{Authorization}i"] == f"Bearer {REDACTED}"
        assert atoms["{QUERY_STRING}e"] == f"q={REDACTED}"
        assert atoms["s"] == 200
        assert atoms["{x-absent}i"] == "-"
        logger.error("Error handling request %s", f"/x/?q={github}")
        err = capsys.readouterr().err
        assert github not in err
        assert f"Error handling request /x/?q={REDACTED}" in err
    finally:
        for log in (logger.error_log, logger.access_log):
            for handler in list(log.handlers):
                log.removeHandler(handler)


# --- Celery -----------------------------------------------------------------------------


@pytest.mark.parametrize("signal", [after_setup_logger, after_setup_task_logger])
def test_celery_logging_signals_install_redaction(signal, monkeypatch, settings):
    """LOG_FORMAT=text: Celery's own format, redacted."""
    settings.LOG_FORMAT = "text"
    # Only this logger: the receiver otherwise wraps every handler of this process.
    logger = logging.getLogger(f"tests.celery.{signal.name}")
    monkeypatch.setattr(logging_setup, "every_logger", lambda: [])
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("[%(levelname)s/MainProcess] %(message)s"))
    logger.addHandler(handler)
    logger.propagate = False
    try:
        signal.send(sender=None, logger=logger, loglevel=logging.INFO, logfile=None,
                    format="", colorize=False)  # fmt: skip
        github = github_token()
        logger.error("Task raised unexpected: ValidationError(['%s'])", github)
    finally:
        logger.removeHandler(handler)
    assert stream.getvalue() == (
        f"[ERROR/MainProcess] Task raised unexpected: ValidationError(['{REDACTED}'])\n"
    )


@pytest.mark.parametrize("signal", [after_setup_logger, after_setup_task_logger])
def test_celery_logging_signals_write_redacted_json(signal, monkeypatch, settings):
    """LOG_FORMAT=json (the default without DEBUG): the worker's lines are JSON with the
    log context's fields, redacted."""
    settings.LOG_FORMAT = "json"
    logger = logging.getLogger(f"tests.celery.json.{signal.name}")
    monkeypatch.setattr(logging_setup, "every_logger", lambda: [])
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("[%(levelname)s/MainProcess] %(message)s"))
    logger.addHandler(handler)
    logger.propagate = False
    try:
        signal.send(sender=None, logger=logger, loglevel=logging.INFO, logfile=None,
                    format="", colorize=False)  # fmt: skip
        github = github_token()
        logger.error("Task raised unexpected: ValidationError(['%s'])", github)
    finally:
        logger.removeHandler(handler)
    assert github not in stream.getvalue()
    line = json.loads(stream.getvalue())
    assert line["message"] == f"Task raised unexpected: ValidationError(['{REDACTED}'])"
    assert {"request_id", "actor", "path_id", "task_id", "task"} <= set(line)
