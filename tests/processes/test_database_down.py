"""A database that goes away under a real gunicorn (issue 14): API clients get a JSON 503
with Retry-After, pages a small 503 page, /healthz stays 200 (liveness does not touch the
database), /readyz says 503 naming the database, /metrics still answers; when the
database comes back, so does the API.

The database is a private PostgreSQL cluster (tests/support_postgres.py) that this test
stops and starts; the shared server is never touched.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.processes.test_log_redaction_processes import Gunicorn
from tests.support_postgres import PrivatePostgres, may_skip_private_postgres
from tests.support_processes import ROOT, wait_until

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(may_skip_private_postgres(), reason="needs PostgreSQL's binaries"),
]

METRICS_TOKEN = "scrape-" + secrets.token_urlsafe(24)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


def manage(env: dict[str, str], *argv: str) -> str:
    # Trusted argv (no shell): this interpreter running the project's manage.py.
    done = subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"manage.py {argv[0]} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture
def database() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres()
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture
def app(database, tmp_path) -> Iterator[tuple[Gunicorn, str]]:
    """gunicorn on the private database, migrated, with a team token; yields the server
    and the token."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"REDIS_URL", "CELERY_BROKER_URL", "DATABASE_URL", "PYTEST_XDIST_WORKER"}
    }
    env.update(
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="127.0.0.1",
        DATABASE_URL=database.create_database("nhi_down"),
        DJANGO_SETTINGS_MODULE="config.settings",
        NHI_VAR_DIR=str(tmp_path / "var"),
        NHI_METRICS_TOKEN=METRICS_TOKEN,
        NHI_METRICS_CACHE_SECONDS="0",
        PYTHONUNBUFFERED="1",
    )
    manage(env, "migrate", "--noinput")
    manage(env, "collectstatic", "--noinput")
    manage(
        env,
        "shell",
        "-c",
        "from registry.rules.actors import Actor; from registry.services import team_create; "
        "team_create(actor=Actor.system(), data={'slug': 'ops', 'name': 'Operations', "
        "'kind': 'security', 'email': 'ops@example.com'})",
    )
    token = manage(env, "create_api_token", "--team", "ops", "--name", "probe").strip()
    server = Gunicorn(tmp_path, env)
    try:
        server.start()
        yield server, token
    finally:
        server.stop()


def fetch(server: Gunicorn, target: str, headers: dict[str, str] | None = None) -> Answer:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.request("GET", target, headers=headers or {})
        response = connection.getresponse()
        return Answer(response.status, dict(response.getheaders()), response.read())
    finally:
        connection.close()


def test_a_stopped_database_is_a_503_with_retry_after_and_recovers(app, database):
    server, token = app
    api = {"Authorization": f"Bearer {token}"}
    assert fetch(server, "/api/v1/access-paths/", api).status == 200, server.logs()
    ready = fetch(server, "/readyz").json()
    assert ready["checks"]["database"]["ok"] is True, ready

    database.stop()

    answer = fetch(server, "/api/v1/access-paths/", api)
    assert answer.status == 503, (answer.body, server.logs())
    assert answer.headers["Retry-After"] == "30"
    assert answer.headers["Content-Type"] == "application/json"
    body = answer.json()
    assert body["code"] == "unavailable" and "database" in body["detail"]
    assert answer.headers.get("X-Request-ID")

    # A page whose session must be read before any view runs: the 503 page, no 500.
    page = fetch(server, "/paths/", {"Cookie": "sessionid=" + "a" * 32})
    assert page.status == 503, (page.body, server.logs())
    assert page.headers["Retry-After"] == "30"
    assert b"Briefly unavailable" in page.body

    assert fetch(server, "/healthz").status == 200
    ready_answer = fetch(server, "/readyz")
    assert ready_answer.status == 503
    checks = ready_answer.json()["checks"]
    assert checks["database"]["ok"] is False
    assert checks["database"]["reason"].startswith("database unavailable")

    metrics = fetch(server, "/metrics", {"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert metrics.status == 200, metrics.body
    assert b"nhi_metrics_domain_up 0.0" in metrics.body

    database.start()

    def api_answers() -> bool:
        return fetch(server, "/api/v1/access-paths/", api).status == 200

    wait_until(api_answers, what="the API to answer again", timeout=30, context=server.logs)
    assert fetch(server, "/readyz").json()["checks"]["database"]["ok"] is True
    # Every failure went to the error log as such, none as an unhandled 500.
    errors = server.error_path.read_text()
    print(errors[-3000:])  # the real lines, for whoever reads the test output
    assert "Internal Server Error" not in errors, errors
