"""An uploaded import run by a real Celery worker process (private Redis broker, the
beat's `registry.imports_pending` picking up the queued run), while the web side only
reads the run's page."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from registry.models import AccessPath, ImportRun
from tests.processes.helpers import Rig
from tests.support_processes import Worker, wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

SAMPLES = Path(__file__).parents[1] / "samples"


@pytest.fixture
def rig(tmp_path, transactional_db):
    processes = Rig(tmp_path)
    yield processes
    processes.close()


def test_an_uploaded_import_is_run_by_a_worker(rig, settings, client, personas):
    settings.NHI_IMPORT_DIR = rig.directory / "imports"
    rig.start_smtp()
    env = rig.env()
    env.update(NHI_IMPORT_DIR=str(settings.NHI_IMPORT_DIR), NHI_IMPORTS_EVERY_SECONDS="1")
    rig.redis.start()
    worker = Worker("importer", rig.directory, env)
    rig.workers.append(worker)
    worker.start()

    client.force_login(personas.users.sam)
    sample = (SAMPLES / "gcp-sa-keys.json").read_bytes()
    response = client.post(
        reverse("registry:import-list"),
        {
            "file": SimpleUploadedFile("keys.json", sample, content_type="application/json"),
            "format": "gcp-sa-keys",
            "steward_team": "platform",
        },
    )
    run = ImportRun.objects.get()
    assert response.status_code == 302

    def finished() -> bool:
        worker.require_alive()
        run.refresh_from_db()
        return run.status not in (ImportRun.Status.QUEUED, ImportRun.Status.RUNNING)

    wait_until(finished, timeout=90, what="the worker to run the import", context=rig.logs)
    assert run.status == ImportRun.Status.APPLIED, run.errors
    assert (
        run.counts.get("created") == AccessPath.objects.filter(import_source="gcp-sa-keys").count()
    )
    page = client.get(reverse("registry:import-detail", args=[run.pk])).content.decode()
    assert "Applied" in page
