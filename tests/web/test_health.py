"""/healthz is liveness only (no database, no I/O); /readyz checks the database, the
broker, beat's heartbeat, the outbox's backlog, the sweep's clock and the import queue,
each with its reason (registry/web/health.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from registry.models import ImportRun, JobTick, Notification
from registry.services.job_ticks import beat_tick, job_finished
from tests.support_processes import PrivateRedis, free_port

pytestmark = pytest.mark.django_db


@pytest.fixture
def healthy(settings):
    """Beat ticked just now, nothing waits: ready (with the in-memory broker)."""
    settings.CELERY_BROKER_URL = "memory://"
    beat_tick()


def readyz(client) -> tuple[int, dict]:
    response = client.get("/readyz")
    assert response["Content-Type"] == "application/json"
    assert "no-cache" in response["Cache-Control"]
    return response.status_code, response.json()


def test_healthz_answers_without_touching_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert (response.status_code, response.content) == (200, b"ok\n")


def test_ready_when_every_check_holds(client, healthy):
    status, body = readyz(client)
    assert status == 200, body
    assert body["ready"] is True
    assert set(body["checks"]) == {"database", "broker", "beat", "delivery", "sweep", "imports"}
    assert all(check["ok"] for check in body["checks"].values())
    assert body["checks"]["database"]["ms"] >= 0
    assert body["checks"]["beat"]["age_seconds"] < 60
    assert body["checks"]["delivery"]["oldest_due_age_seconds"] == 0


def test_not_ready_before_beat_ever_ticked(client, settings):
    settings.CELERY_BROKER_URL = "memory://"
    status, body = readyz(client)
    assert status == 503 and body["ready"] is False
    assert body["checks"]["beat"] == {
        "ok": False,
        "age_seconds": None,
        "reason": "beat has never ticked",
    }
    assert body["checks"]["database"]["ok"] is True


def test_not_ready_when_beat_is_stale(client, settings, healthy):
    settings.NHI_READY_BEAT_MAX_AGE_SECONDS = 180
    JobTick.objects.filter(name="beat").update(
        last_succeeded_at=timezone.now() - dt.timedelta(seconds=600)
    )
    status, body = readyz(client)
    assert status == 503
    beat = body["checks"]["beat"]
    assert beat["ok"] is False and beat["age_seconds"] >= 600
    assert "limit 180 s" in beat["reason"]


def test_not_ready_when_the_oldest_due_notification_waits_too_long(client, settings, healthy, path):
    settings.NHI_READY_DELIVERY_MAX_AGE_SECONDS = 900
    now = timezone.now()
    Notification.objects.create(
        team=path.owner_team,
        path=path,
        reason="review_reminder",
        cycle=now,
        next_attempt_at=now - dt.timedelta(seconds=1200),
        created_at=now - dt.timedelta(seconds=1200),
    )
    status, body = readyz(client)
    assert status == 503
    delivery = body["checks"]["delivery"]
    assert delivery["ok"] is False and delivery["oldest_due_age_seconds"] >= 1200
    assert "limit 900 s" in delivery["reason"]


def test_not_ready_when_the_sweep_refused_over_clock_skew(client, healthy):
    job_finished("sweep", ok=True, details={"clock_skew_seconds": 4000.5, "refused": True})
    status, body = readyz(client)
    assert status == 503
    sweep = body["checks"]["sweep"]
    assert (sweep["ok"], sweep["clock_skew_seconds"]) == (False, 4000.5)
    assert "4000.5 s apart" in sweep["reason"]


def test_not_ready_when_an_import_waits_too_long(client, settings, healthy):
    settings.NHI_READY_IMPORTS_MAX_AGE_SECONDS = 900
    ImportRun.objects.create(
        source_format="registry_csv",
        actor_label="sam",
        created_at=timezone.now() - dt.timedelta(hours=1),
    )
    status, body = readyz(client)
    assert status == 503
    assert body["checks"]["imports"]["ok"] is False
    assert body["checks"]["imports"]["oldest_queued_age_seconds"] >= 3600


def test_a_broker_that_does_not_answer_is_named(client, settings, healthy):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{free_port()}/0"
    status, body = readyz(client)
    assert status == 503
    broker = body["checks"]["broker"]
    assert broker["ok"] is False and broker["reason"].startswith("broker unavailable")
    assert body["checks"]["database"]["ok"] is True


def test_a_missing_filesystem_broker_folder_is_named(client, settings, healthy, tmp_path):
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": str(tmp_path / "gone")}
    status, body = readyz(client)
    assert status == 503
    assert body["checks"]["broker"]["reason"] == "the broker's queue folder is missing"
    (tmp_path / "gone").mkdir()
    assert readyz(client)[0] == 200


@pytest.mark.redis
def test_a_live_redis_broker_is_ready(client, settings, healthy, tmp_path):
    redis_server = PrivateRedis(tmp_path / "redis")
    redis_server.start()
    try:
        settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{redis_server.port}/0"
        status, body = readyz(client)
    finally:
        redis_server.stop()
    assert status == 200, body
    broker = body["checks"]["broker"]
    assert (broker["ok"], broker["reason"]) == (True, "")
