"""An upload in which the import found a credential is not kept for the retention
period: its bytes go at the next purge (the registry keeps no credential, not even for
a week in an uploaded file)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from registry.models import FileChunk, ImportRun
from registry.rules.actors import Actor
from registry.rules.imports import held_a_credential
from registry.services.import_queue import import_queue, import_run_queued
from registry.services.import_recovery import import_uploads_purge
from tests.support_security import GITHUB_TOKEN

pytestmark = pytest.mark.django_db

SAMPLES = Path(__file__).parents[1] / "samples"
T0 = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)


def _run(personas, content: bytes) -> ImportRun:
    run = import_queue(
        actor=Actor.for_user(personas.users.sam), chunks=[content], file_name="paths.csv",
        source_format="csv", steward=personas.teams.platform, now=T0,
    )  # fmt: skip
    import_run_queued(run_id=str(run.pk), now=T0)
    run.refresh_from_db()
    run.upload.refresh_from_db()
    return run


def test_an_upload_holding_a_credential_is_deleted_at_the_next_purge(personas):
    sample = (SAMPLES / "registry-paths.csv").read_text()
    header, first, *rest = sample.splitlines()
    leaked = first.replace(
        "The nightly billing export job reads invoice secrets from Vault.",
        f"Token {GITHUB_TOKEN} reads invoices.",
    )
    run = _run(personas, "\n".join([header, leaked, *rest]).encode())
    assert held_a_credential(run.errors), run.errors
    assert run.upload.expires_at == run.finished_at
    assert import_uploads_purge(now=run.finished_at) == 1
    assert not FileChunk.objects.filter(file_id=run.upload_id).exists()


def test_an_upload_without_one_is_kept_for_the_retention(personas, settings):
    run = _run(personas, (SAMPLES / "registry-paths.csv").read_bytes())
    assert not held_a_credential(run.errors)
    hours = settings.NHI_IMPORT_UPLOAD_RETENTION_HOURS
    assert run.upload.expires_at == run.finished_at + dt.timedelta(hours=hours)
    assert import_uploads_purge(now=run.finished_at) == 0
