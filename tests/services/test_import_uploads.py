"""Imports from the browser and the API: the upload is kept (in the database) and
queued, a worker runs it (here the task in-process; in tests/processes/test_import_worker.py
real Celery workers), and the run's page and API resource show its progress and report."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from registry.models import AccessPath, AuditEvent, ImportRun, StoredFile
from registry.runtime.progress import get_progress, set_progress
from registry.runtime.stored_files import file_chunks
from workers.celery import app
from workers.tasks import import_task, imports_pending_task

SAMPLES = Path(__file__).parents[1] / "samples"
AWS = "aws-credential-report"


def upload(name: str = "aws-credential-report.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, (SAMPLES / name).read_bytes(), content_type="text/csv")


def post_upload(client, **extra):
    data = {"file": upload(), "format": AWS, "steward_team": "platform", **extra}
    return client.post(reverse("registry:import-list"), data)


def test_security_uploads_and_the_task_applies_it(client, personas):
    client.force_login(personas.users.sam)
    response = post_upload(client)
    run = ImportRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("registry:import-detail", args=[run.pk])
    assert run.status == ImportRun.Status.QUEUED and run.started_by == personas.users.sam
    upload_ = run.upload
    assert upload_.purpose == StoredFile.Purpose.IMPORT_UPLOAD
    assert upload_.name == "aws-credential-report.csv" and upload_.expires_at is None
    sample = (SAMPLES / "aws-credential-report.csv").read_bytes()
    assert b"".join(file_chunks(upload_)) == sample and upload_.size == len(sample)
    page = client.get(response["Location"])
    assert "Queued" in page.content.decode() and 'hx-trigger="every 1s"' in page.content.decode()

    assert import_task(str(run.pk)) == {"created": 4, "skipped_gone": 2}
    run.refresh_from_db()
    assert run.status == ImportRun.Status.APPLIED and run.processed == run.total == 6
    assert get_progress(run.pk) == (6, 6)
    assert AccessPath.objects.filter(import_source=AWS, steward_team__slug="platform").count() == 4
    # The audit names the person who uploaded, not the worker.
    assert AuditEvent.objects.filter(action="import.applied").get().actor_label == "sam"
    fragment = client.get(reverse("registry:import-detail", args=[run.pk]), HTTP_HX_REQUEST="true")
    body = fragment.content.decode()
    assert "<html" not in body and "Applied" in body and "every 1s" not in body
    assert "Created" in body and ">4<" in body


def test_a_task_delivered_twice_runs_the_import_once(client, personas):
    client.force_login(personas.users.sam)
    post_upload(client)
    run = ImportRun.objects.get()
    assert import_task(str(run.pk)) is not None
    assert import_task(str(run.pk)) is None
    assert AuditEvent.objects.filter(action="import.applied").count() == 1


@pytest.fixture
def tasks_run_here():
    """Tasks sent by a task run at once in this process (the "worker" is the test)."""
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


def test_queued_runs_are_picked_up_by_the_periodic_task(client, personas, tasks_run_here):
    client.force_login(personas.users.sam)
    post_upload(client)
    post_upload(client, dry_run="on")
    done = imports_pending_task()  # each queued run is sent on as its own task
    assert done == {"requeued": 0, "failed": 0, "purged": 0, "queued": 2}
    statuses = sorted(ImportRun.objects.values_list("status", flat=True))
    assert statuses == [ImportRun.Status.APPLIED, ImportRun.Status.DRY_RUN]
    assert imports_pending_task()["queued"] == 0


def test_a_refused_import_reports_its_lines_on_the_page(client, personas):
    client.force_login(personas.users.sam)
    data = {"file": upload("aws-credential-report-broken.csv"), "format": AWS}
    client.post(reverse("registry:import-list"), data)
    run = ImportRun.objects.get()
    import_task(str(run.pk))
    run.refresh_from_db()
    assert run.status == ImportRun.Status.REFUSED
    assert not AccessPath.objects.exists()
    body = client.get(reverse("registry:import-detail", args=[run.pk])).content.decode()
    assert "Refused (nothing changed)" in body
    for error in run.errors:
        assert f"<td>{error['line']}</td>" in body


@pytest.mark.parametrize("who", ["pat", "lee", "dana", "otto"])
def test_only_security_sees_or_uploads_imports(client, personas, who):
    client.force_login(getattr(personas.users, who))
    assert client.get(reverse("registry:import-list")).status_code == 404
    assert post_upload(client).status_code == 404
    assert not ImportRun.objects.exists()


def test_bad_upload_form_is_400_and_queues_nothing(client, personas):
    client.force_login(personas.users.sam)
    response = client.post(reverse("registry:import-list"), {"format": "nope"})
    assert response.status_code == 400
    assert not ImportRun.objects.exists()


def test_api_queues_an_import_and_shows_its_progress(client, personas):
    client.force_login(personas.users.sam)
    response = client.post("/api/v1/imports/", {"file": upload(), "format": AWS, "dry_run": "true"})
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "queued" and body["dry_run"] is True
    set_progress(body["id"], 3, 6)
    assert client.get(f"/api/v1/imports/{body['id']}/").json()["processed"] == 3
    import_task(body["id"])
    done = client.get(f"/api/v1/imports/{body['id']}/").json()
    assert done["status"] == "dry_run" and done["counts"] == {"created": 4, "skipped_gone": 2}
    assert not AccessPath.objects.exists()


@pytest.mark.parametrize("who", ["pat", "otto"])
def test_api_refuses_imports_to_others(client, personas, who):
    client.force_login(getattr(personas.users, who))
    response = client.post("/api/v1/imports/", {"file": upload(), "format": AWS})
    assert response.status_code == 403
    assert client.get("/api/v1/imports/").json()["results"] == []
    assert not ImportRun.objects.exists()
