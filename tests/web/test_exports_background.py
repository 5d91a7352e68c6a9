"""Exports that complete (issue 14): past NHI_EXPORT_INLINE_MAX_ROWS the inventory's
download becomes a background run written by a worker, whose page polls until the file
is ready; only the person who asked (or security) sees it. Under the limit it streams
as before. Every export is in the audit trail. A run whose worker died is written again
or failed, never left running; a run another attempt owns is never touched."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from types import SimpleNamespace

import pytest
from django.urls import reverse

from registry.models import AuditEvent, ExportRun, StoredFile
from registry.rules.exports import (
    EXPORT_FAILED,
    EXPORT_NOT_READY,
    EXPORT_PURGED,
    WORKER_STOPPED_TOO_OFTEN,
    runs_in_background,
)
from registry.runtime.stored_files import purge_expired_files
from registry.selectors.exports import COLUMNS
from registry.services import exports as export_services
from registry.services.exports import export_run_queued, exports_recover
from registry.web.views import _common
from tests.conftest import NOW

pytestmark = pytest.mark.django_db

URL = "/paths/export.csv"
MINUTE = dt.timedelta(minutes=1)


@pytest.fixture(autouse=True)
def frozen(monkeypatch):
    monkeypatch.setattr(_common, "timezone", SimpleNamespace(now=lambda: NOW))


@pytest.fixture
def small_limit(settings):
    settings.NHI_EXPORT_INLINE_MAX_ROWS = 2
    # The heartbeat thread's connection cannot see this test's uncommitted run: it is
    # tested on its own below (and beats for real in tests/processes).
    settings.NHI_EXPORT_HEARTBEAT_SECONDS = 3600
    return settings


@pytest.fixture
def estate(personas, make_path):
    return [
        make_path(name=f"path-{i}", tags=["pci"] if i % 2 else [], now=NOW - (10 - i) * MINUTE)
        for i in range(5)
    ]


def clock(at: dt.datetime = NOW):
    return lambda: at


def ask(client, user, url: str = URL, query: dict | None = None):
    client.force_login(user)
    return client.get(url, query or {})


def test_the_size_rule():
    assert not runs_in_background(20_000, inline_max_rows=20_000)
    assert runs_in_background(20_001, inline_max_rows=20_000)


def test_under_the_limit_it_streams_and_is_audited(client, personas, estate, settings):
    settings.NHI_EXPORT_INLINE_MAX_ROWS = 5
    response = ask(client, personas.users.pat, query={"tag": "pci"})
    assert response.status_code == 200 and response.streaming
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert len(lines) == 1 + 2
    event = AuditEvent.objects.get(action="export.streamed")
    assert event.actor_user == personas.users.pat
    assert event.changes == {"format": [None, "csv"], "filter": [None, {"tag": "pci"}],
                             "rows": [None, 2]}  # fmt: skip
    assert not ExportRun.objects.exists()


def test_over_the_limit_it_becomes_a_run_that_writes_every_path(
    client, personas, estate, small_limit
):
    response = ask(client, personas.users.pat)
    run = ExportRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("registry:export-detail", args=[run.pk])
    assert (run.status, run.fmt, run.requested_by, run.query) == (
        ExportRun.Status.QUEUED, "csv", personas.users.pat, {},
    )  # fmt: skip
    requested = AuditEvent.objects.get(action="export.requested")
    assert requested.object_id == str(run.pk) and requested.actor_user == personas.users.pat

    page = client.get(response["Location"])
    assert page.status_code == 200 and b'hx-trigger="every 1s"' in page.content
    not_ready = client.get(reverse("registry:export-download", args=[run.pk]))
    assert (not_ready.status_code, not_ready.content.decode()) == (409, EXPORT_NOT_READY)

    export_run_queued(run_id=run.pk, clock=clock())
    run.refresh_from_db()
    assert (run.status, run.total, run.written, run.attempts) == ("done", 5, 5, 1)
    assert run.file.expires_at == NOW + dt.timedelta(hours=24)

    done = client.get(response["Location"], HTTP_HX_REQUEST="true")
    assert b"every 1s" not in done.content
    assert reverse("registry:export-download", args=[run.pk]).encode() in done.content
    download = client.get(reverse("registry:export-download", args=[run.pk]))
    assert download.status_code == 200
    body = b"".join(download.streaming_content)
    assert int(download["Content-Length"]) == len(body) == run.file.size
    assert download["Content-Disposition"] == (
        'attachment; filename="nhi-paths-20261122T120000Z.csv"'
    )
    assert download["Content-Type"] == "text/csv; charset=utf-8"
    header, *rows = list(csv.reader(io.StringIO(body.decode(), newline="")))
    assert header == COLUMNS
    assert sorted(row[1] for row in rows) == [f"path-{i}" for i in range(5)]

    # The very bytes the inline export would have streamed.
    small_limit.NHI_EXPORT_INLINE_MAX_ROWS = 100
    inline = b"".join(client.get(URL).streaming_content)
    assert inline == body


def test_a_json_run_is_valid_json_and_keeps_the_filter(client, personas, estate, small_limit):
    response = ask(client, personas.users.sam, reverse("registry:path-export-json"),
                   {"status": "active"})  # fmt: skip
    assert response.status_code == 302
    run = ExportRun.objects.get()
    assert run.query == {"status": ["active"]}
    export_run_queued(run_id=run.pk, clock=clock())
    download = client.get(reverse("registry:export-download", args=[run.pk]))
    records = json.loads(b"".join(download.streaming_content))
    assert len(records) == 5 and all(r["status"] == "active" for r in records)


def test_only_the_requester_and_security_see_a_run(client, personas, estate, small_limit):
    ask(client, personas.users.pat)
    run = ExportRun.objects.get()
    export_run_queued(run_id=run.pk, clock=clock())
    page = reverse("registry:export-detail", args=[run.pk])
    download = reverse("registry:export-download", args=[run.pk])
    for outsider in (personas.users.dana, personas.users.lee, personas.users.otto):
        client.force_login(outsider)
        assert client.get(page).status_code == 404
        assert client.get(download).status_code == 404
    client.force_login(personas.users.sam)
    assert client.get(page).status_code == 200
    assert client.get(download).status_code == 200
    client.logout()
    assert client.get(download).status_code == 302  # sign in first


def test_a_bad_filter_is_refused_before_anything_is_queued(client, personas, estate, small_limit):
    response = ask(client, personas.users.sam, query={"status": "bogus"})
    assert response.status_code == 400
    assert not ExportRun.objects.exists()


def test_a_run_is_claimed_once(client, personas, estate, small_limit):
    ask(client, personas.users.pat)
    run = ExportRun.objects.get()
    assert export_run_queued(run_id=run.pk, clock=clock()) is not None
    assert export_run_queued(run_id=run.pk, clock=clock()) is None  # a redelivered message
    assert StoredFile.objects.count() == 1


def test_a_failure_ends_the_run_with_a_reason(client, personas, estate, small_limit, monkeypatch):
    ask(client, personas.users.pat)
    run = ExportRun.objects.get()

    def broken(*args, **kwargs):
        raise ValueError("a row the writer could not take")
        yield b""  # pragma: no cover - makes this a generator like export_pieces

    monkeypatch.setattr(export_services, "export_pieces", broken)
    export_run_queued(run_id=run.pk, clock=clock())
    run.refresh_from_db()
    assert run.status == ExportRun.Status.FAILED
    assert run.error == EXPORT_FAILED.format(reason="ValueError")
    page = ask(client, personas.users.pat, reverse("registry:export-detail", args=[run.pk]))
    assert run.error.encode() in page.content


def test_a_dead_workers_run_is_written_again_then_failed(personas, estate, small_limit):
    run = export_services.export_request(actor=personas.pat, fmt="csv", filters={}, now=NOW)
    stale = NOW - dt.timedelta(seconds=small_limit.NHI_EXPORT_STALE_SECONDS + 1)
    ExportRun.objects.filter(pk=run.pk).update(status="running", attempts=1, heartbeat_at=stale)
    assert exports_recover(now=NOW) == {"requeued": 1, "failed": 0}
    run.refresh_from_db()
    assert run.status == ExportRun.Status.QUEUED
    # A beating run is left alone.
    ExportRun.objects.filter(pk=run.pk).update(status="running", heartbeat_at=NOW - MINUTE)
    assert exports_recover(now=NOW) == {"requeued": 0, "failed": 0}
    attempts = small_limit.NHI_EXPORT_MAX_ATTEMPTS
    ExportRun.objects.filter(pk=run.pk).update(attempts=attempts, heartbeat_at=stale)
    assert exports_recover(now=NOW) == {"requeued": 0, "failed": 1}
    run.refresh_from_db()
    assert run.status == ExportRun.Status.FAILED
    assert run.error == WORKER_STOPPED_TOO_OFTEN.format(attempts=attempts)


def test_a_worker_taken_for_dead_stops_and_touches_nothing(personas, estate, small_limit):
    run = export_services.export_request(actor=personas.pat, fmt="csv", filters={}, now=NOW)
    times = iter([NOW + dt.timedelta(seconds=10 * i) for i in range(100)])

    def ticking() -> dt.datetime:
        # Meanwhile a recoverer took the run back and another worker claimed it.
        ExportRun.objects.filter(pk=run.pk).update(attempts=7)
        return next(times)

    assert export_run_queued(run_id=run.pk, clock=ticking) is None
    run.refresh_from_db()
    assert (run.status, run.attempts, run.file) == (ExportRun.Status.RUNNING, 7, None)


def test_the_heartbeat_moves_the_run_and_notices_when_it_was_taken_back(
    personas, estate, small_limit
):
    run = export_services.export_request(actor=personas.pat, fmt="csv", filters={}, now=NOW)
    ExportRun.objects.filter(pk=run.pk).update(status="running", attempts=1, heartbeat_at=NOW)
    beat = export_services._Heartbeat(run.pk, 1, clock(NOW + MINUTE))
    beat(1500)
    beat.beat()
    run.refresh_from_db()
    assert (run.heartbeat_at, run.written, beat.lost) == (NOW + MINUTE, 1500, False)
    ExportRun.objects.filter(pk=run.pk).update(attempts=2)  # taken back and claimed again
    beat.beat()
    assert beat.lost
    with pytest.raises(export_services._TakenOver):
        beat(2000)
    run.refresh_from_db()
    assert (run.heartbeat_at, run.written) == (NOW + MINUTE, 1500)


def test_a_purged_file_is_gone_not_broken(client, personas, estate, small_limit):
    ask(client, personas.users.pat)
    run = ExportRun.objects.get()
    export_run_queued(run_id=run.pk, clock=clock())
    assert purge_expired_files(now=NOW + dt.timedelta(hours=25)) == 1
    response = client.get(reverse("registry:export-download", args=[run.pk]))
    assert response.status_code == 410
    assert response.content.decode() == EXPORT_PURGED
    page = client.get(reverse("registry:export-detail", args=[run.pk]))
    assert b"deleted after its retention" in page.content
