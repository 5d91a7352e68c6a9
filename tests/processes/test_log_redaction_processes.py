"""Logs never carry a credential, checked on real processes: gunicorn started with the
deployment's config (config/gunicorn_conf.py) and a Celery worker, each writing its log
to a file that the test reads back.

Both run against their own SQLite database in a temporary directory (migrated once for
the module), so they never touch the test database or each other.
"""

from __future__ import annotations

import http.client
import os
import re
import secrets
import string
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import Celery

from registry.rules import token_format
from tests.support_processes import (
    ROOT,
    PrivateRedis,
    Worker,
    wait_until,
)
from tests.support_processes import Gunicorn as SharedGunicorn

_ALNUM = string.ascii_letters + string.digits
# Every atom the access log can carry in one line: the production format's (request
# line, status, size, referer, user agent) plus path, query string and two headers.
ACCESS_FORMAT = (
    '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" '
    'path=%(U)s query=%(q)s auth="%({authorization}i)s" probe="%({x-probe}i)s"'
)


def github_token() -> str:
    return "ghp_" + "".join(secrets.choice(_ALNUM) for _ in range(36))


def percent_encoded(text: str) -> str:
    """Every character as %XX: what a client may send, and what must not pass unseen."""
    return "".join(f"%{ord(c):02X}" for c in text)


def leaked(log: str, *secrets_: str) -> list[str]:
    """Which of the secrets (or their random bodies, minus the prefix) appear in `log`."""
    found = []
    for secret in secrets_:
        body = secret.split("_", 1)[1]
        if secret in log or body in log or percent_encoded(secret) in log:
            found.append(secret)
    return found


@pytest.fixture(scope="module")
def app_env(tmp_path_factory) -> dict[str, str]:
    """The environment of a production process (DEBUG off) on a freshly migrated SQLite
    file of its own, without any of the caller's database, broker or settings."""
    directory = tmp_path_factory.mktemp("log-redaction")
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"REDIS_URL", "CELERY_BROKER_URL", "DATABASE_URL", "PYTEST_XDIST_WORKER"}
    }
    env.update(
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="127.0.0.1",
        DATABASE_URL=f"sqlite:///{directory / 'registry.sqlite3'}",
        DJANGO_SETTINGS_MODULE="config.settings",
        NHI_VAR_DIR=str(directory / "var"),
        LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
    )
    # Trusted argv (no shell): this interpreter running the project's manage.py.
    migrate = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert migrate.returncode == 0, f"migrate failed:\n{migrate.stdout}\n{migrate.stderr}"
    # As the image does at build time: pages name their static files by hashed name.
    collect = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert collect.returncode == 0, f"collectstatic failed:\n{collect.stdout}\n{collect.stderr}"
    return env


# --- gunicorn ---------------------------------------------------------------------------


class Gunicorn(SharedGunicorn):
    """The shared gunicorn with the access-log format these tests read back."""

    def __init__(self, directory: Path, env: dict[str, str]) -> None:
        super().__init__(directory, env, args=("--access-logformat", ACCESS_FORMAT))

    def get(self, target: str, headers: dict[str, str]) -> int:
        """GET `target` exactly as written (no client-side quoting) and return the status."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request("GET", target, headers=headers)
            response = connection.getresponse()
            response.read()
            return response.status
        finally:
            connection.close()


@pytest.fixture
def gunicorn(app_env, tmp_path) -> Iterator[Gunicorn]:
    server = Gunicorn(tmp_path, app_env)
    try:
        yield server
    finally:
        server.stop()


def test_gunicorn_logs_no_credential_from_the_request(gunicorn):
    github, registry_token = github_token(), token_format.generate()
    github_2, registry_token_2 = github_token(), token_format.generate()
    every_secret = (github, registry_token, github_2, registry_token_2)
    gunicorn.start()

    # In the query string, the Referer, the User-Agent and two more headers, in clear.
    status = gunicorn.get(
        f"/api/v1/access-paths/?q={github}&token={registry_token}&page=2",
        {
            "Referer": f"https://ci.example.com/build?gh={github}",
            "User-Agent": f"probe/1.0 {registry_token}",
            "Authorization": f"Bearer {registry_token}",
            "X-Probe": github,
        },
    )
    assert status == 401
    # In the path and the query string, percent-encoded: partly (`%67hp_…`, as in the
    # issue) and entirely; the Referer carries an encoded one too.
    partly = "%67" + github_2[1:]
    status = gunicorn.get(
        f"/api/v1/access-paths/{partly}/?q={percent_encoded(registry_token_2)}",
        {"Referer": f"https://ci.example.com/?t={percent_encoded(github)}"},
    )
    assert status in (401, 404)
    # A request with nothing secret in it is logged unchanged.
    assert gunicorn.get("/healthz?probe=plain", {}) == 200

    def three_lines_logged() -> bool:
        gunicorn.accepting()
        return gunicorn.access_path.read_text().count("\n") >= 3

    wait_until(three_lines_logged, what="three access-log lines", context=gunicorn.logs)
    gunicorn.stop()  # flushes nothing more, but the files are complete once it is gone
    access = gunicorn.access_path.read_text()
    errors = gunicorn.error_path.read_text()
    print(access)  # the real lines, for whoever reads the test output

    assert leaked(access, *every_secret) == [], gunicorn.logs()
    assert leaked(errors, *every_secret) == [], gunicorn.logs()
    lines = access.splitlines()
    assert len(lines) == 3, access
    # Threaded workers write a request's line once its thread is done, so the lines may
    # come in any order: each is found by what it requested.
    [first] = [line for line in lines if "page=2" in line]
    [third] = [line for line in lines if "/healthz" in line]
    [second] = [line for line in lines if line not in (first, third)]
    assert '"GET /api/v1/access-paths/?q=[REDACTED]&token=[REDACTED]&page=2 HTTP/1.1" 401 ' in first
    assert '"https://ci.example.com/build?gh=[REDACTED]" "probe/1.0 [REDACTED]"' in first
    assert "path=/api/v1/access-paths/ query=q=[REDACTED]&token=[REDACTED]&page=2 " in first
    assert 'auth="Bearer [REDACTED]" probe="[REDACTED]"' in first
    # How much of what follows a credential at the end of the query string is redacted
    # with it is the detector's business; the request up to it is intact.
    assert '"GET /api/v1/access-paths/[REDACTED]/?q=[REDACTED]' in second
    assert '"https://ci.example.com/?t=[REDACTED]"' in second
    # PATH_INFO is already decoded by gunicorn; the query string stays as sent.
    assert "path=/api/v1/access-paths/[REDACTED]/ query=q=[REDACTED]" in second
    assert '"GET /healthz?probe=plain HTTP/1.1" 200 ' in third
    assert 'path=/healthz query=probe=plain auth="-" probe="-"' in third
    # Django's own loggers in the same process (stderr) log the decoded path, redacted.
    assert "/api/v1/access-paths/[REDACTED]/" in errors, errors


# --- the Celery worker ------------------------------------------------------------------


@pytest.mark.redis
def test_worker_logs_no_credential_from_a_task(app_env, tmp_path):
    github, registry_token = github_token(), token_format.generate()
    broker = PrivateRedis(tmp_path / "redis")
    worker: Worker | None = None
    try:
        broker.start()
        broker_url = f"redis://127.0.0.1:{broker.port}/0"
        worker = Worker("redaction", tmp_path, {**app_env, "CELERY_BROKER_URL": broker_url})
        worker.start()

        # An explicit connection: this process's own CELERY_BROKER_URL is memory://.
        producer = Celery("probe")
        with producer.connection_for_write(broker_url) as connection:
            # The run id ends up in the task's exception message ("… is not a valid
            # UUID") and its traceback; an unregistered task makes the worker log the
            # whole message body, arguments included.
            producer.send_task(
                "registry.import_paths", args=[f"run-{github}"], connection=connection
            )
            producer.send_task(
                "registry.no_such_task", args=[registry_token], connection=connection
            )
        producer.close()

        def both_logged() -> bool:
            worker.require_alive()
            log = worker.log_path.read_text(errors="replace")
            return "is not a valid UUID" in log and "unregistered task" in log.lower()

        wait_until(both_logged, what="the worker to log both tasks' failures", context=worker.log)
    finally:
        if worker is not None:
            worker.kill()
        broker.stop()

    log = worker.log_path.read_text(errors="replace")
    assert leaked(log, github, registry_token) == [], worker.log()
    assert "run-[REDACTED]" in log, worker.log()
    # The traceback (not only the message) went through the redaction too.
    assert "Traceback (most recent call last)" in log, worker.log()
    assert "[REDACTED]" in log.split("unregistered task", 1)[1], worker.log()


def test_gunicorn_serves_the_pages_static_files_by_hashed_name(gunicorn):
    """The production process serves its own CSS and JavaScript (WhiteNoise)."""
    gunicorn.start()
    connection = http.client.HTTPConnection("127.0.0.1", gunicorn.port, timeout=30)
    try:
        connection.request("GET", "/login/")
        page = connection.getresponse().read().decode()
    finally:
        connection.close()
    assets = re.findall(r'(?:href|src)="(/static/[^"]+\.[0-9a-f]{12}\.(?:css|js))"', page)
    assert assets, page[:500]
    for asset in assets:
        assert gunicorn.get(asset, {}) == 200, asset
