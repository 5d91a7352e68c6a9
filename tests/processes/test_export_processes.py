"""Exports that complete, on real processes (issue 14: "at 74k paths export.csv stops at
gunicorn's 30 s timeout with 55,985 of 74,037 lines"): gunicorn with the deployment's
config and a 5 s timeout, and a Celery worker sharing nothing but the database and the
broker. An export larger than the inline limit is sent to the worker, and the file
downloaded from the web holds every path: never a truncated 200.
"""

from __future__ import annotations

import csv
import http.client
import io
import uuid
from pathlib import Path

import pytest
from django.test import Client
from django.utils import timezone

from registry.models import AccessPath, ExportRun
from tests.processes.helpers import Rig
from tests.support_processes import ROOT, Worker, wait_until
from tests.support_processes import Gunicorn as SharedGunicorn

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

PATHS = 6_000
INLINE_MAX_ROWS = 1_000


@pytest.fixture
def rig(tmp_path, transactional_db):
    processes = Rig(tmp_path)
    yield processes
    processes.close()


class Gunicorn(SharedGunicorn):
    """gunicorn with config/gunicorn_conf.py, its timeout cut to 5 s."""

    def __init__(self, directory: Path, env: dict[str, str]) -> None:
        super().__init__(directory, env, args=("--timeout", "5"))

    def get(self, target: str, session: str) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            connection.request("GET", target, headers={"Cookie": f"sessionid={session}"})
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()


def load_paths(count: int, steward) -> None:
    now = timezone.now()
    AccessPath.objects.bulk_create(
        AccessPath(
            id=uuid.uuid4(), name=f"reader-{i:06d}", kind="service_account", system="vault",
            external_id=f"bulk-{i:06d}", environment="prod", steward_team=steward,
            justification=f'Reads the "{i}" ledger, = not a formula', review_interval_days=180,
            state_changed_at=now,
            created_at=now, updated_at=now,
        )
        for i in range(count)
    )  # fmt: skip


def test_a_large_export_is_written_by_a_worker_and_downloaded_whole(rig, tmp_path, personas):
    rig.start_smtp()
    rig.redis.start()
    load_paths(PATHS, personas.teams.platform)
    env = {
        **rig.env(),
        "NHI_EXPORT_INLINE_MAX_ROWS": str(INLINE_MAX_ROWS),
        "NHI_EXPORTS_EVERY_SECONDS": "1",
    }
    web = Gunicorn(tmp_path, {**env, "PYTHONPATH": str(ROOT)})
    worker = Worker("exporter", rig.directory, env)
    rig.workers.append(worker)
    worker.start()
    browser = Client()
    browser.force_login(personas.users.sam)
    session = browser.cookies["sessionid"].value
    try:
        web.start()
        status, headers, _ = web.get("/paths/export.csv", session)
        assert status == 302, web.logs()
        run_id = headers["Location"].rstrip("/").rsplit("/", 1)[-1]
        run = ExportRun.objects.get(pk=run_id)

        def finished() -> bool:
            worker.require_alive()
            run.refresh_from_db()
            return run.status not in (ExportRun.Status.QUEUED, ExportRun.Status.RUNNING)

        wait_until(finished, timeout=60, what="the worker to write the export",
                   context=lambda: rig.logs() + web.logs())  # fmt: skip
        assert run.status == ExportRun.Status.DONE, run.error
        status, _, page = web.get(f"/exports/{run_id}/", session)
        assert status == 200 and f"/exports/{run_id}/download".encode() in page
        status, headers, body = web.get(f"/exports/{run_id}/download", session)
    finally:
        web.stop()
    assert status == 200
    assert int(headers["Content-Length"]) == len(body) == run.file.size
    header, *rows = list(csv.reader(io.StringIO(body.decode(), newline="")))
    assert header[:2] == ["id", "name"]
    assert len(rows) == run.written == run.total == PATHS
    assert {row[1] for row in rows} == {f"reader-{i:06d}" for i in range(PATHS)}
