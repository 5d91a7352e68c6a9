"""Keep credentials out of logs, whatever a library or a mistake puts in a message."""

import logging

from registry.tokens import TOKEN_PATTERN

REDACTED = "nhir_[redacted]"


class RedactTokens(logging.Filter):
    """Replace anything shaped like an NHI Registry API token in a log record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if TOKEN_PATTERN.search(message):
            record.msg = TOKEN_PATTERN.sub(REDACTED, message)
            record.args = ()
        return True
