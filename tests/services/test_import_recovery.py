"""Imports that always finish (issue 14): the claim counts an attempt and starts the
heartbeat; a run whose worker stopped beating is queued again, then failed with the
reason after NHI_IMPORT_MAX_ATTEMPTS; a run that cannot be read fails at once; an ended
run's upload is kept NHI_IMPORT_UPLOAD_RETENTION_HOURS, then its bytes are deleted.

The races (two recoverers, a heartbeat seen while the import's transaction is open, a
worker taken for dead that must not commit) run on PostgreSQL, one connection per thread.
"""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from registry.models import AccessPath, AuditEvent, FileChunk, ImportRun, StoredFile
from registry.rules import imports as rules
from registry.rules.actors import Actor
from registry.services.import_heartbeat import ImportHeartbeat
from registry.services.import_queue import import_queue, import_run_queued
from registry.services.import_recovery import import_uploads_purge, imports_recover
from tests.services.test_concurrency import race
from tests.support_processes import wait_until
from workers.celery import app
from workers.tasks import imports_pending_task

SAMPLES = Path(__file__).parents[1] / "samples"
K8S = "k8s-serviceaccounts"
T0 = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)


def queued(personas, *, now: dt.datetime = T0) -> ImportRun:
    return import_queue(
        actor=Actor.for_user(personas.users.sam),
        chunks=[(SAMPLES / "k8s-serviceaccounts.json").read_bytes()],
        file_name="sa.json",
        source_format=K8S,
        steward=personas.teams.platform,
        now=now,
    )


def worker_died(run: ImportRun, *, at: dt.datetime) -> None:
    """What a worker killed right after its claim leaves: the run running, one more
    attempt counted, the heartbeat of the claim and nothing after it."""
    ImportRun.objects.filter(pk=run.pk).update(
        status=ImportRun.Status.RUNNING, attempts=run.attempts + 1, heartbeat_at=at
    )
    run.refresh_from_db()


def stale_after(seconds: float = 0) -> dt.datetime:
    from django.conf import settings

    return T0 + dt.timedelta(seconds=settings.NHI_IMPORT_STALE_SECONDS + seconds)


# --- the claim -------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_claim_counts_an_attempt_and_is_the_first_heartbeat(personas):
    run = queued(personas)
    seen: list[tuple] = []

    def progress(done: int, total: int) -> None:
        # Inside the import: the run as its worker claimed it.
        seen.append(
            ImportRun.objects.values_list("status", "attempts", "heartbeat_at").get(pk=run.pk)
        )

    report = import_run_queued(run_id=str(run.pk), progress=progress, now=T0)
    assert seen == [(ImportRun.Status.RUNNING, 1, T0)]
    assert report is not None and report.applied
    assert import_run_queued(run_id=str(run.pk), now=T0) is None  # taken: never twice
    run.refresh_from_db()
    assert run.attempts == 1


@pytest.mark.django_db
def test_a_run_queued_before_the_upgrade_fails_saying_upload_again(personas):
    # Before uploads were kept in the database, a run's file sat on one container's disk.
    run = ImportRun.objects.create(
        source_format=K8S, file_name="old.json", actor_label="sam", created_at=T0
    )
    report = import_run_queued(run_id=str(run.pk), now=T0)
    run.refresh_from_db()
    assert run.status == ImportRun.Status.FAILED and run.finished_at is not None
    assert report.errors[0]["errors"] == [rules.UPLOADED_BEFORE_UPGRADE]


@pytest.mark.django_db
def test_an_upload_whose_bytes_are_gone_fails_at_once(personas):
    run = queued(personas)
    FileChunk.objects.filter(file=run.upload).delete()
    StoredFile.objects.filter(pk=run.upload_id).update(purged_at=T0)
    import_run_queued(run_id=str(run.pk), now=T0)
    run.refresh_from_db()
    assert run.status == ImportRun.Status.FAILED
    assert run.errors[0]["errors"] == [rules.UPLOAD_GONE]


@pytest.mark.django_db
def test_a_heartbeat_moves_its_own_attempt_only(personas):
    run = queued(personas)
    worker_died(run, at=T0)  # attempt 1 is running
    later = T0 + dt.timedelta(seconds=30)
    mine = ImportHeartbeat(run_id=run.pk, attempt=1, every=15, clock=lambda: later)
    mine.record(500, 1000)
    assert mine.beat()
    other_attempt = ImportHeartbeat(run_id=run.pk, attempt=0, every=15, clock=timezone.now)
    assert not other_attempt.beat()  # a worker whose run was taken back keeps nothing alive
    run.refresh_from_db()
    assert (run.heartbeat_at, run.processed) == (later, 500)


# --- recovery --------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_fresh_heartbeat_is_left_alone(personas):
    run = queued(personas)
    worker_died(run, at=T0)
    assert imports_recover(now=stale_after(-1)) == {"requeued": 0, "failed": 0}
    run.refresh_from_db()
    assert run.status == ImportRun.Status.RUNNING
    assert not AuditEvent.objects.filter(action__startswith="import.").exists()


@pytest.mark.django_db
def test_a_dead_workers_run_is_retried_then_failed_with_the_reason(personas, settings):
    settings.NHI_IMPORT_MAX_ATTEMPTS = 3
    run = queued(personas)
    for attempt in (1, 2):
        worker_died(run, at=T0)
        assert imports_recover(now=stale_after(1)) == {"requeued": 1, "failed": 0}
        run.refresh_from_db()
        assert (run.status, run.attempts, run.finished_at) == (
            ImportRun.Status.QUEUED,
            attempt,
            None,
        )
    requeued = AuditEvent.objects.filter(action="import.requeued", object_id=str(run.pk))
    assert requeued.count() == 2 and requeued.first().actor_label == "import recovery"

    worker_died(run, at=T0)
    done_at = stale_after(1)
    assert imports_recover(now=done_at) == {"requeued": 0, "failed": 1}
    run.refresh_from_db()
    assert run.status == ImportRun.Status.FAILED and run.finished_at == done_at
    reason = rules.WORKER_STOPPED_TOO_OFTEN.format(attempts=3)
    assert run.errors == [{"line": 0, "external_id": "", "errors": [reason]}]
    assert "stopped 3 times (killed or out of memory); nothing was changed" in reason
    failed = AuditEvent.objects.get(action="import.failed", object_id=str(run.pk))
    assert failed.reason == reason
    # The upload's retention starts when the run ends, however it ends.
    run.upload.refresh_from_db()
    hours = settings.NHI_IMPORT_UPLOAD_RETENTION_HOURS
    assert run.upload.expires_at == done_at + dt.timedelta(hours=hours)
    assert not AccessPath.objects.exists()
    assert imports_recover(now=done_at + dt.timedelta(hours=1)) == {"requeued": 0, "failed": 0}


@pytest.mark.django_db
def test_a_requeued_run_is_claimed_as_its_next_attempt_and_applies(personas):
    run = queued(personas)
    worker_died(run, at=T0)
    imports_recover(now=stale_after(1))
    report = import_run_queued(run_id=str(run.pk), now=stale_after(2))
    run.refresh_from_db()
    assert report.applied and run.attempts == 2
    assert AuditEvent.objects.filter(action="import.applied").count() == 1
    page_run = AccessPath.objects.filter(import_source=K8S)
    assert page_run.count() == run.counts["created"] > 0


@pytest.mark.django_db
def test_a_stale_run_without_an_upload_fails_it_cannot_be_retried(personas):
    """`manage.py import_paths` (a local file) and runs claimed before heartbeats
    existed (no heartbeat at all) cannot be read again by a worker."""
    run = ImportRun.objects.create(
        source_format=K8S, actor_label="import_paths", created_at=T0,
        status=ImportRun.Status.RUNNING, attempts=1,
    )  # fmt: skip
    assert imports_recover(now=T0) == {"requeued": 0, "failed": 1}
    run.refresh_from_db()
    assert run.status == ImportRun.Status.FAILED
    assert run.errors[0]["errors"] == [rules.PROCESS_STOPPED]


@pytest.mark.django_db
def test_a_stale_run_whose_upload_was_purged_fails(personas):
    run = queued(personas)
    worker_died(run, at=T0)
    StoredFile.objects.filter(pk=run.upload_id).update(purged_at=T0)
    assert imports_recover(now=stale_after(1)) == {"requeued": 0, "failed": 1}
    run.refresh_from_db()
    assert run.errors[0]["errors"] == [rules.UPLOAD_GONE]


@pytest.mark.django_db
def test_the_periodic_task_takes_back_purges_and_sends_on(personas):
    """`registry.imports_pending`: a dead worker's run is queued again and sent to a
    worker (here this process) in the same tick; expired uploads lose their bytes."""
    dead = queued(personas)
    worker_died(dead, at=T0)
    old = queued(personas)
    import_run_queued(run_id=str(old.pk), now=T0 - dt.timedelta(days=30))
    app.conf.task_always_eager = True
    try:
        done = imports_pending_task()
    finally:
        app.conf.task_always_eager = False
    assert done == {"requeued": 1, "failed": 0, "purged": 1, "queued": 1}
    dead.refresh_from_db()
    assert dead.status == ImportRun.Status.APPLIED and dead.attempts == 2
    assert not FileChunk.objects.filter(file_id=old.upload_id).exists()


# --- retention -------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_ended_runs_upload_is_deleted_after_its_retention(personas, settings, client):
    settings.NHI_IMPORT_UPLOAD_RETENTION_HOURS = 48
    run = queued(personas)
    other = queued(personas)  # still queued: kept, whatever the date
    ended_at = T0 + dt.timedelta(minutes=5)
    import_run_queued(run_id=str(run.pk), now=ended_at)
    run.refresh_from_db()
    run.upload.refresh_from_db()
    assert run.status == ImportRun.Status.APPLIED
    assert run.upload.expires_at == ended_at + dt.timedelta(hours=48)

    client.force_login(personas.users.sam)
    page = client.get(reverse("registry:import-detail", args=[run.pk])).content.decode()
    assert "will be deleted on 2 Dec 2026 09:05 (2 days after the import ended)" in page
    waiting = client.get(reverse("registry:import-detail", args=[other.pk])).content.decode()
    assert "is kept until 2 days after the import ends" in waiting

    assert import_uploads_purge(now=ended_at + dt.timedelta(hours=47)) == 0
    purged_at = ended_at + dt.timedelta(hours=48)
    assert import_uploads_purge(now=purged_at) == 1
    assert not FileChunk.objects.filter(file_id=run.upload_id).exists()
    assert FileChunk.objects.filter(file_id=other.upload_id).exists()
    run.upload.refresh_from_db()
    assert run.upload.purged_at == purged_at  # the record stays
    page = client.get(reverse("registry:import-detail", args=[run.pk])).content.decode()
    assert "The uploaded file was deleted on 2 Dec 2026 09:05" in page


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("content", "dry_run", "status"),
    [
        (None, True, ImportRun.Status.DRY_RUN),
        (b"[" * 200_000, False, ImportRun.Status.FAILED),
        (b'[{"kind": "ServiceAccount"}]', False, ImportRun.Status.REFUSED),
    ],
)
def test_every_ending_starts_the_retention(personas, content, dry_run, status):
    run = import_queue(
        actor=Actor.for_user(personas.users.sam),
        chunks=[content or (SAMPLES / "k8s-serviceaccounts.json").read_bytes()],
        file_name="x.json", source_format=K8S, dry_run=dry_run, now=T0,
    )  # fmt: skip
    import_run_queued(run_id=str(run.pk), now=T0)
    run.refresh_from_db()
    run.upload.refresh_from_db()
    assert run.status == status
    assert run.upload.expires_at == run.finished_at + dt.timedelta(hours=168)


# --- races (PostgreSQL) ----------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_recoverers_take_a_run_back_once(personas):
    for _ in range(5):
        run = queued(personas)
        worker_died(run, at=T0)
        outcomes = race(
            lambda: imports_recover(now=stale_after(1)),
            lambda: imports_recover(now=stale_after(1)),
        )
        assert sorted(o.value["requeued"] for o in outcomes) == [0, 1]
        assert (
            AuditEvent.objects.filter(action="import.requeued", object_id=str(run.pk)).count() == 1
        )
        run.refresh_from_db()
        assert run.status == ImportRun.Status.QUEUED


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_is_seen_while_the_imports_transaction_is_open(personas, settings):
    settings.NHI_IMPORT_HEARTBEAT_SECONDS = 0.2
    run = queued(personas)
    claimed_at = timezone.now() - dt.timedelta(hours=1)
    seen: list[tuple] = []

    def from_elsewhere() -> tuple:
        """The run's heartbeat and progress, and the paths, as another connection (as
        another process) sees them."""
        result: list[tuple] = []

        def read() -> None:
            try:
                beat = ImportRun.objects.values_list("heartbeat_at", "processed").get(pk=run.pk)
                result.append((*beat, AccessPath.objects.count()))
            finally:
                connection.close()

        reader = threading.Thread(target=read)
        reader.start()
        reader.join(10)
        return result[0]

    def progress(done: int, total: int) -> None:
        def beaten() -> bool:
            seen[:] = [from_elsewhere()]
            return seen[0][0] > claimed_at and seen[0][1] == done

        assert connection.in_atomic_block  # the import's transaction is open
        wait_until(beaten, what="a heartbeat seen outside the import's transaction", timeout=20)

    report = import_run_queued(run_id=str(run.pk), progress=progress, now=claimed_at)
    assert report.applied and report.counts["created"] > 0
    (_, processed, paths_seen_elsewhere) = seen[0]
    assert processed == report.counts["created"]
    assert paths_seen_elsewhere == 0  # the import's own rows were not committed yet


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_worker_taken_for_dead_commits_nothing_and_the_next_attempt_applies(personas):
    """A worker too slow to beat (frozen, not killed) has its run taken back while its
    import is still open: its transaction must not commit, and the next attempt runs.
    (The take-back is the recoverer's compare-and-set alone: its audit event would wait
    for the open import, which holds the audit chain's head until it ends.)"""
    run = queued(personas)

    def taken_back(done: int, total: int) -> None:
        def recover() -> None:
            try:
                ImportRun.objects.filter(pk=run.pk, status=ImportRun.Status.RUNNING).update(
                    status=ImportRun.Status.QUEUED
                )
            finally:
                connection.close()

        recoverer = threading.Thread(target=recover)
        recoverer.start()
        recoverer.join(30)
        assert not recoverer.is_alive()

    first = import_run_queued(run_id=str(run.pk), progress=taken_back)
    run.refresh_from_db()
    assert first is not None and not first.applied
    assert run.status == ImportRun.Status.QUEUED and run.attempts == 1
    assert not AccessPath.objects.exists()
    assert not AuditEvent.objects.filter(action="import.applied").exists()

    second = import_run_queued(run_id=str(run.pk))
    run.refresh_from_db()
    assert second.applied and run.attempts == 2
    assert AccessPath.objects.filter(import_source=K8S).count() == run.counts["created"] > 0
    assert AuditEvent.objects.filter(action="import.applied").count() == 1
