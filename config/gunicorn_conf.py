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

from registry.runtime.log_redaction import format_handlers, redact_text  # noqa: E402


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
    request URI or a traceback) are redacted whole, and written like every other log
    line (JSON with LOG_FORMAT=json)."""

    atoms_wrapper_class = RedactedAtoms

    def setup(self, cfg) -> None:
        super().setup(cfg)
        format_handlers([self.error_log])


bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
# WEB_CONCURRENCY is gunicorn's own variable for the number of workers.
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
# Threaded workers: each worker serves GUNICORN_THREADS requests at once, so one slow
# request (a big page, a streamed export, a sign-in's password hash) no longer holds
# everything queued behind it, /healthz included; the worker's main thread keeps
# heartbeating while its threads serve, so a long streamed response is not taken for a
# hung worker. Of 2, 4 and 8 threads on 2 cores, 8 served the most requests with the
# shortest waits (docs/OPERATIONS.md, "Throughput"): requests spend part of their time
# waiting for PostgreSQL, and more threads keep the cores busy meanwhile.
# Each thread keeps its own database connection (CONN_MAX_AGE): the web tier needs up to
# workers x threads PostgreSQL connections (24 by default).
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
# Recycle a worker after this many requests (plus up to the jitter, so the workers do
# not all restart at once): bounds the memory any slow leak can take.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "2000"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", "200"))
# A request that runs longer than this is killed (its worker restarted): the app has no
# legitimate request that long, imports run in the Celery worker. With gthread the
# timeout is the worker's heartbeat, which its main thread sends whatever its request
# threads are doing: a request is bounded by the database's statement timeout and the
# app's own deadlines, a worker that stops answering at all is still restarted.
timeout = 30
# The deadline a request has for each SQL statement, in milliseconds (config/settings.py
# reads it). gunicorn puts it in its own environment before the workers load the app, so
# it applies to the web processes only; an operator's DB_STATEMENT_TIMEOUT_MS wins.
raw_env = [f"DB_STATEMENT_TIMEOUT_MS={os.environ.get('DB_STATEMENT_TIMEOUT_MS', '25000')}"]
# On SIGTERM (a deploy, `docker compose stop`), running requests get this long to finish;
# docker-compose gives the web service 30 s before it kills it (stop_grace_period).
graceful_timeout = 25
keepalive = 5

logger_class = RedactingLogger
accesslog = "-"  # stdout
# gunicorn's default line plus the time taken (microseconds) and the request id the app
# answered with (X-Request-ID), which every application log line of the request carries.
access_log_format = (
    '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(D)s rid=%({x-request-id}o)s'
)
errorlog = "-"  # stderr
loglevel = os.environ.get("LOG_LEVEL", "info").lower()


def child_exit(server, worker) -> None:
    """With PROMETHEUS_MULTIPROC_DIR (several workers sharing /metrics' figures), a dead
    worker's live gauges are dropped from that folder (registry/web/metrics.py)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


# No runtime control socket (gunicornc): nothing in the container uses it, and its default
# path ($HOME/.gunicorn/gunicorn.ctl) would be shared by every gunicorn of a user.
control_socket_disable = True
