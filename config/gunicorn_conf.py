"""gunicorn settings for the web app: `gunicorn -c config/gunicorn_conf.py config.wsgi:application`.

Used by the Dockerfile and docker-compose. Options given on the command line win over
these (the test suite adds `--bind 127.0.0.1:<port>`).

Logs never carry a credential: the access log redacts every atom it writes (request
line, path, query string, referer, user agent, any header or environ atom), checked
also percent-decoded, and the error log redacts its final line (`registry.runtime.log_redaction`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from gunicorn.glogging import Logger, SafeAtoms

# Loaded by path (-c), before gunicorn puts the app's directory on sys.path.
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from registry.runtime.log_redaction import redact_handlers, redact_text  # noqa: E402


class RedactedAtoms(SafeAtoms):
    """Access-log atoms, each redacted when the log format asks for it (so only the atoms
    the format uses cost anything)."""

    def __getitem__(self, key: str):
        value = super().__getitem__(key)
        return redact_text(value) if isinstance(value, str) else value


class RedactingLogger(Logger):
    """gunicorn's logger whose access and error logs never write a credential.

    Every variable part of an access-log line is an atom, redacted as the format reads
    it; the format's own text is configuration. Error-log lines (which may quote a
    request URI or a traceback) are redacted whole."""

    atoms_wrapper_class = RedactedAtoms

    def setup(self, cfg) -> None:
        super().setup(cfg)
        redact_handlers([self.error_log])


bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
# WEB_CONCURRENCY is gunicorn's own variable for the number of workers.
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
# A request that runs longer than this is killed (its worker restarted): the app has no
# legitimate request that long, imports run in the Celery worker.
timeout = 30
# On SIGTERM (a deploy, `docker compose stop`), running requests get this long to finish;
# docker-compose gives the web service 30 s before it kills it (stop_grace_period).
graceful_timeout = 25
keepalive = 5

logger_class = RedactingLogger
accesslog = "-"  # stdout
errorlog = "-"  # stderr
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# No runtime control socket (gunicornc): nothing in the container uses it, and its default
# path ($HOME/.gunicorn/gunicorn.ctl) would be shared by every gunicorn of a user.
control_socket_disable = True
