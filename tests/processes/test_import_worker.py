"""Imports run by real processes that share nothing but the database and the broker
(issue 14): a gunicorn web server and a Celery worker, each in its own working
directory with its own NHI_VAR_DIR, so the upload can only travel through the database;
and a worker killed mid-import (SIGKILL of its process group), whose run a second
worker takes back once its heartbeat is stale and applies exactly once.
"""

from __future__ import annotations

import csv
import http.client
import io
import json
import uuid
from pathlib import Path

import pytest
from django.db.models import Count

from registry.models import AccessPath, AuditEvent, ImportRun
from registry.rules.actors import Actor
from registry.services.import_queue import import_queue
from registry.services.tokens import token_create
from tests.processes.helpers import Rig
from tests.support_processes import (
    ROOT,
    Worker,
    process_env,
    wait_until,
)
from tests.support_processes import Gunicorn as SharedGunicorn

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

SAMPLES = Path(__file__).parents[1] / "samples"
# Large enough that the import is still inside its transaction, past its first chunks,
# when the test kills its worker; small enough to run twice within the test's budget.
KILLED_ROWS = 6_000


@pytest.fixture
def rig(tmp_path, transactional_db):
    processes = Rig(tmp_path)
    yield processes
    processes.close()


class WorkerElsewhere(Worker):
    """A Celery worker (with its embedded beat) whose working directory is not the
    checkout: it finds the code through PYTHONPATH, and nothing else of the web's."""

    def __init__(self, name: str, cwd: Path, env: dict[str, str]) -> None:
        cwd.mkdir(parents=True, exist_ok=True)
        super().__init__(name, cwd, {**env, "PYTHONPATH": str(ROOT)}, cwd=cwd)


class Web(SharedGunicorn):
    """gunicorn with the deployment's config, in its own working directory."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        super().__init__(cwd, {**env, "PYTHONPATH": str(ROOT)}, cwd=cwd)

    def upload(self, token: str, name: str, content: bytes, fields: dict[str, str]) -> dict:
        """POST /api/v1/imports/ as multipart form data; the decoded JSON answer."""
        boundary = uuid.uuid4().hex
        body = io.BytesIO()
        for key, value in fields.items():
            body.write(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n'
                f"{value}\r\n".encode()
            )
        body.write(
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"'
            f"\r\nContent-Type: application/octet-stream\r\n\r\n".encode()
        )
        body.write(content + f"\r\n--{boundary}--\r\n".encode())
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(
                "POST", "/api/v1/imports/", body=body.getvalue(),
                headers={
                    "Authorization": f"Bearer {token}",
                    "Content-Type": f"multipart/form-data; boundary={boundary}",
                },
            )  # fmt: skip
            response = connection.getresponse()
            answer = response.read()
        finally:
            connection.close()
        assert response.status == 202, (response.status, answer[:2000], self.logs())
        return json.loads(answer)


def files_named(directory: Path, needle: str) -> list[Path]:
    return [p for p in directory.rglob("*") if needle in p.name]


def test_an_upload_to_the_web_is_run_by_a_worker_that_shares_no_filesystem(rig, tmp_path, personas):
    smtp = rig.start_smtp()
    rig.redis.start()

    def env_in(directory: Path) -> dict[str, str]:
        env = process_env(broker_port=rig.redis.port, smtp_port=smtp.port, var_dir=directory)
        return {**env, "NHI_IMPORTS_EVERY_SECONDS": "1"}

    web = Web(tmp_path / "web", env_in(tmp_path / "web" / "var"))
    worker = WorkerElsewhere("importer", tmp_path / "worker", env_in(tmp_path / "worker" / "var"))
    rig.workers.append(worker)
    try:
        web.start()
        worker.start()
        _, token = token_create(
            actor=Actor.for_user(personas.users.sam), name="uploads", scopes=["read", "write"],
            user=personas.users.sam,
        )  # fmt: skip
        sample = (SAMPLES / "gcp-sa-keys.json").read_bytes()
        answer = web.upload(
            token, "keys.json", sample, {"format": "gcp-sa-keys", "steward_team": "platform"}
        )
        run = ImportRun.objects.get(pk=answer["id"])

        def finished() -> bool:
            worker.require_alive()
            run.refresh_from_db()
            return run.status not in (ImportRun.Status.QUEUED, ImportRun.Status.RUNNING)

        wait_until(
            finished, timeout=60, what="the worker to run the import",
            context=lambda: rig.logs() + web.logs(),
        )  # fmt: skip
    finally:
        web.stop()
    assert run.status == ImportRun.Status.APPLIED, run.errors
    created = AccessPath.objects.filter(import_source="gcp-sa-keys").count()
    assert created == run.counts["created"] > 0
    assert run.upload.size == len(sample) and run.upload.expires_at is not None
    # The bytes travelled through the database: neither side wrote the upload to disk.
    for side in ("web", "worker"):
        assert files_named(tmp_path / side, str(run.pk)) == []
        assert files_named(tmp_path / side, "keys.json") == []


def registry_csv(rows: int) -> bytes:
    """The registry's own CSV format: `rows` unowned paths, each with its own external id."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["name", "kind", "system", "external_id", "environment", "steward_team"])
    for i in range(rows):
        writer.writerow(
            [
                f"batch-reader-{i:06d}",
                "service_account",
                "vault",
                f"killed-{i:06d}",
                "prod",
                "platform",
            ]
        )
    return out.getvalue().encode()


def test_a_worker_killed_mid_import_is_replaced_and_the_import_applies_once(rig, personas):
    rig.start_smtp()
    rig.redis.start()
    env = rig.env()
    env.update(
        NHI_IMPORT_HEARTBEAT_SECONDS="0.25",
        NHI_IMPORT_STALE_SECONDS="3",
        NHI_IMPORTS_EVERY_SECONDS="1",
    )
    first = Worker("first", rig.directory, env)
    rig.workers.append(first)
    first.start()
    run = import_queue(
        actor=Actor.for_user(personas.users.sam), chunks=[registry_csv(KILLED_ROWS)],
        file_name="paths.csv", source_format="csv",
    )  # fmt: skip

    def mid_import() -> bool:
        first.require_alive()
        run.refresh_from_db()
        # A beat after the first chunks: the import's transaction is open and has written.
        return run.status == ImportRun.Status.RUNNING and 0 < run.processed < KILLED_ROWS

    wait_until(
        mid_import, timeout=60, interval=0.1, what="the import to be under way", context=rig.logs
    )
    killed_at_row = run.processed
    first.kill()  # SIGKILL, the whole process group: no cleanup code runs
    assert not AccessPath.objects.filter(import_source="csv").exists()  # nothing committed

    second = Worker("second", rig.directory, env)
    rig.workers.append(second)
    second.start()

    def finished() -> bool:
        second.require_alive()
        run.refresh_from_db()
        return run.status not in (ImportRun.Status.QUEUED, ImportRun.Status.RUNNING)

    wait_until(
        finished, timeout=60, what="the second worker to finish the import", context=rig.logs
    )
    assert run.status == ImportRun.Status.APPLIED, run.errors
    assert run.attempts == 2 and run.counts == {"created": KILLED_ROWS}, killed_at_row
    paths = AccessPath.objects.filter(import_source="csv", external_id__startswith="killed-")
    assert paths.count() == KILLED_ROWS
    doubled = paths.values("external_id").annotate(n=Count("pk")).filter(n__gt=1)
    assert not doubled.exists()
    assert AuditEvent.objects.filter(action="import.requeued", object_id=str(run.pk)).count() == 1
    assert AuditEvent.objects.filter(action="import.applied", object_id=str(run.pk)).count() == 1
    registered = AuditEvent.objects.filter(action="access_path.registered").count()
    assert registered == KILLED_ROWS  # each path audited once: the killed attempt left none
