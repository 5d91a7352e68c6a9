"""Files no reader can take end their run with a reason; bytes no field can hold fail
their row, naming the field; neither crashes the worker nor leaves a run 'running'."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry.models import AccessPath, FileChunk, ImportRun, StoredFile
from registry.rules.actors import Actor
from registry.services.import_queue import import_queue, import_run_queued

pytestmark = pytest.mark.django_db

SAMPLES = Path(__file__).parents[1] / "samples"


def queued(personas, content: bytes, fmt: str):
    return import_queue(
        actor=Actor.for_user(personas.users.sam),
        chunks=[content],
        file_name=f"upload.{fmt}",
        source_format=fmt,
    )


def test_a_file_nested_without_end_fails_its_run_saying_why(personas):
    run = queued(personas, b"[" * 200_000 + b"]" * 200_000, "json")
    import_run_queued(run_id=str(run.pk))
    run.refresh_from_db()
    assert run.status == ImportRun.Status.FAILED
    assert run.finished_at is not None
    assert "nests deeper" in run.errors[0]["errors"][0]


def test_a_nul_in_a_csv_value_fails_the_row_naming_the_field(personas):
    lines = (SAMPLES / "registry-paths.csv").read_bytes().splitlines(keepends=True)
    lines[1] = lines[1].replace(b"vault-billing-reader", b"vault-billing\x00reader", 1)
    run = queued(personas, b"".join(lines), "csv")
    report = import_run_queued(run_id=str(run.pk))
    run.refresh_from_db()
    assert run.status == ImportRun.Status.REFUSED  # nothing applied, as for any bad row
    (error,) = report.errors
    assert error["line"] == 2
    assert any(e.startswith("name: Contains a NUL") for e in error["errors"])
    assert not AccessPath.objects.exists()


def test_a_nul_in_json_fails_the_row_too(personas):
    content = b'[{"name": "x\\u0000y", "kind": "service_account", "system": "vault",' \
        b' "external_id": "v:1", "environment": "prod"}]'  # fmt: skip
    report = import_run_queued(run_id=str(queued(personas, content, "json").pk))
    assert "name: Contains a NUL" in report.errors[0]["errors"][0]


def test_a_file_that_is_not_text(personas):
    run = queued(personas, b"\xff\xfe\x00\x00garbage", "csv")
    import_run_queued(run_id=str(run.pk))
    run.refresh_from_db()
    assert run.status in (ImportRun.Status.FAILED, ImportRun.Status.REFUSED)
    assert run.errors and run.errors[0]["errors"]


def test_an_upload_over_the_cap_is_refused_and_nothing_kept(personas, settings):
    from registry.rules import errors
    from registry.rules.errors import Invalid

    settings.NHI_IMPORT_MAX_BYTES = 2 * 1024 * 1024
    # The first MiB is already written as a chunk when the third piece passes the cap:
    # the upload's transaction takes it back with the rest.
    with pytest.raises(Invalid) as refused:
        queued_chunks(personas, [b"x" * 900_000] * 3)
    assert refused.value.errors == {"file": [errors.UPLOAD_TOO_LARGE.format(mb=2)]}
    assert not ImportRun.objects.exists()
    assert not StoredFile.objects.exists() and not FileChunk.objects.exists()


def test_the_upload_page_and_api_say_so(personas, settings, client):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from rest_framework.test import APIClient

    settings.NHI_IMPORT_MAX_BYTES = 1024 * 1024
    api = APIClient()
    api.force_authenticate(personas.users.sam)
    upload = SimpleUploadedFile("big.csv", b"x" * (1024 * 1024 + 1))
    response = api.post("/api/v1/imports/", {"file": upload, "format": "csv"}, format="multipart")
    assert response.status_code == 400
    assert "file" in response.json()["errors"]
    assert not ImportRun.objects.exists() and not StoredFile.objects.exists()


def queued_chunks(personas, chunks):
    return import_queue(
        actor=Actor.for_user(personas.users.sam),
        chunks=chunks,
        file_name="big.csv",
        source_format="csv",
    )
