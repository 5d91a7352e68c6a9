"""/metrics (registry/web/metrics.py): Prometheus text for a bearer of NHI_METRICS_TOKEN
or a signed-in security reviewer, a 404 for anyone else; the registry's own gauges are
computed from the database and cached for NHI_METRICS_CACHE_SECONDS."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from registry.models import AccessPath, Notification
from registry.services.job_ticks import beat_tick, job_finished
from registry.web import metrics as metrics_module

pytestmark = pytest.mark.django_db

TOKEN = "metrics-scraper-" + "x7Kq" * 8


@pytest.fixture(autouse=True)
def metrics_settings(settings):
    settings.NHI_METRICS_TOKEN = TOKEN
    settings.NHI_METRICS_CACHE_SECONDS = 0
    # The shared cache in this process's memory (tests must not share snapshots).
    settings.CACHES = {
        **settings.CACHES,
        "operations": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "metrics-tests",
        },
    }
    return settings


def scrape(client: Client | None = None, token: str | None = TOKEN):
    client = client or Client()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return client.get("/metrics", **headers)


def samples(response) -> dict[tuple[str, tuple], float]:
    assert response.status_code == 200, response.content[:500]
    assert response["Content-Type"].startswith("text/plain")
    found = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found, name, **labels) -> float:
    return found[(name, tuple(sorted(labels.items())))]


@pytest.mark.parametrize("token", [None, "wrong-token", TOKEN[:-1]])
def test_without_the_token_the_endpoint_does_not_exist(token):
    assert scrape(token=token).status_code == 404


def test_without_a_configured_token_no_bearer_gets_in(settings):
    settings.NHI_METRICS_TOKEN = ""
    assert scrape(token="").status_code == 404
    assert scrape(token="anything").status_code == 404


def test_a_security_reviewer_signed_in_may_read_it_others_may_not(settings, personas):
    settings.NHI_METRICS_TOKEN = ""
    for user, status in ((personas.users.sam, 200), (personas.users.pat, 404)):
        client = Client()
        client.force_login(user)
        assert scrape(client, token=None).status_code == status


def test_the_domain_gauges(make_path, personas):
    now = timezone.now()
    own = make_path(now=now)
    make_path(now=now, owner_team=None, justification="", ticket_url="")
    for status, channel, due in (
        ("pending", "email", now - dt.timedelta(seconds=300)),
        ("dead", "slack", now),
        ("dead", "email", now),
    ):
        Notification.objects.create(
            team=personas.teams.payments, path=own, reason="review_reminder", cycle=due,
            status=status, channel=channel, next_attempt_at=due, created_at=due,
        )  # fmt: skip
    beat_tick()
    job_finished("sweep", ok=True, details={"clock_skew_seconds": 1.25, "refused": False})
    job_finished("deliver", ok=False, error="SMTP down")

    found = samples(scrape())
    assert value(found, "nhi_metrics_domain_up") == 1
    statuses = {s: value(found, "nhi_paths", status=s) for s in ("active", "unowned", "revoked")}
    assert statuses["unowned"] == AccessPath.objects.filter(owner_team=None).count() >= 1
    assert sum(v for (n, _), v in found.items() if n == "nhi_paths") == AccessPath.objects.count()
    assert value(found, "nhi_notifications", status="pending", channel="email") >= 1
    assert value(found, "nhi_notifications", status="dead", channel="slack") == 1
    assert value(found, "nhi_notifications_dead") == 2
    assert value(found, "nhi_notification_oldest_due_age_seconds") >= 300
    assert value(found, "nhi_job_last_success_timestamp_seconds", job="beat") > 0
    assert value(found, "nhi_job_last_run_failed", job="deliver") == 1
    assert value(found, "nhi_job_last_run_failed", job="beat") == 0
    assert ("nhi_job_last_success_timestamp_seconds", (("job", "anchor"),)) not in found
    assert value(found, "nhi_sweep_clock_skew_seconds") == 1.25
    assert value(found, "nhi_sweep_clock_refused") == 0
    assert value(found, "nhi_import_runs", status="queued") == 0
    assert value(found, "nhi_export_runs", status="failed") == 0
    assert value(found, "nhi_incidents", state="open") == value(found, "nhi_incidents_open")
    # django-prometheus' request metrics come along.
    assert any(name.startswith("django_http_requests") for name, _ in found)


def test_the_figures_are_computed_once_per_window(settings, make_path, django_assert_num_queries):
    settings.NHI_METRICS_CACHE_SECONDS = 30
    make_path()
    first = samples(scrape())
    make_path()  # not seen until the window ends
    with django_assert_num_queries(0):
        second = samples(scrape())
    key = ("nhi_metrics_snapshot_timestamp_seconds", ())
    assert first[key] == second[key]
    total = sum(v for (n, _), v in second.items() if n == "nhi_paths")
    assert total == AccessPath.objects.count() - 1


def test_a_stale_snapshot_is_served_while_another_process_computes(settings, make_path):
    settings.NHI_METRICS_CACHE_SECONDS = 30
    make_path()
    stale = metrics_module.cached_snapshot()
    cache = metrics_module.caches[metrics_module.CACHE_ALIAS]
    old = stale.__class__(**{**stale.__dict__, "taken_at": stale.taken_at - dt.timedelta(hours=1)})
    cache.set(metrics_module.SNAPSHOT_KEY, old, 300)
    assert cache.add(metrics_module.COMPUTING_KEY, 1, 60)  # another process is computing
    assert metrics_module.cached_snapshot() == old
    cache.delete(metrics_module.COMPUTING_KEY)
    assert metrics_module.cached_snapshot().taken_at > old.taken_at


def test_a_cache_server_that_is_down_still_gives_the_figures(settings):
    """With Redis down (the operations cache), a scrape computes the figures uncached:
    metrics matter most when something is down, so the endpoint never fails for it."""
    from tests.support_processes import free_port

    settings.NHI_METRICS_CACHE_SECONDS = 30
    settings.CACHES = {
        **settings.CACHES,
        "operations": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            # Nothing listens there: every cache call fails at once.
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        },
    }
    found = samples(scrape())
    assert value(found, "nhi_metrics_domain_up") == 1
