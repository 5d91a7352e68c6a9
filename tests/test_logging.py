import logging

from registry import tokens
from registry.logfilters import REDACTED, RedactTokens


def test_tokens_never_reach_the_log():
    secret = tokens.generate()
    record = logging.LogRecord(
        "django.request",
        logging.WARNING,
        __file__,
        1,
        "Bad request with %s for %s",
        (f"Authorization: Bearer {secret}", "/api/v1/me/"),
        None,
    )
    assert RedactTokens().filter(record)
    message = record.getMessage()
    assert secret not in message
    assert message == f"Bad request with Authorization: Bearer {REDACTED} for /api/v1/me/"


def test_configured_on_the_console_handler(settings):
    handler = settings.LOGGING["handlers"]["console"]
    assert "redact_tokens" in handler["filters"]
