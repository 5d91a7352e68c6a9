"""`/metrics`: Prometheus text, protected.

Two parts. The process's own metrics (django-prometheus' request and database metrics,
prometheus_client's process metrics); with several gunicorn workers, set
PROMETHEUS_MULTIPROC_DIR so every worker writes its figures to that folder and any of
them answers for all (config/gunicorn_conf.py clears a dead worker's files). And the
registry's own gauges (paths by status, the outbox, jobs' last ticks, runs, incidents,
the sweep's clock), computed at scrape time from `selectors.operations` and cached for
NHI_METRICS_CACHE_SECONDS in the shared "operations" cache, so however many processes
and scrapers ask, the figures cost about one computation per window.

Who may read it: a bearer of NHI_METRICS_TOKEN (compared in constant time) or a
signed-in security reviewer. Anyone else gets a 404: the endpoint does not exist for
them. It never answers 500: when the database cannot give the domain figures, the
process metrics still come, with `nhi_metrics_domain_up 0`.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import os
from collections.abc import Iterator

from django.conf import settings
from django.core.cache import caches
from django.db import DatabaseError
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from registry.rules.actors import NotSignedIn, actor_for
from registry.rules.permissions import may_use_security_pages
from registry.rules.policies import current_policy
from registry.selectors.operations import OperationsSnapshot, operations_snapshot

logger = logging.getLogger(__name__)

CACHE_ALIAS = "operations"
SNAPSHOT_KEY = "nhi:metrics:snapshot"
COMPUTING_KEY = "nhi:metrics:computing"
# How long a computation may hold the others off (they serve the previous snapshot).
COMPUTING_LEASE_SECONDS = 60
# A stale snapshot is still served to scrapers while another process computes the next.
STALE_KEPT_FOR = 10


def _bearer(request: HttpRequest) -> str:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def may_read_metrics(request: HttpRequest) -> bool:
    expected = settings.NHI_METRICS_TOKEN
    presented = _bearer(request)
    if expected and presented:
        return hmac.compare_digest(presented.encode(), expected.encode())
    try:
        return may_use_security_pages(actor_for(request))
    except NotSignedIn:
        return False


def cached_snapshot() -> OperationsSnapshot:
    """The latest snapshot, computed at most once per NHI_METRICS_CACHE_SECONDS across
    every process sharing the cache; while one process computes, the others serve the
    previous snapshot."""
    window = settings.NHI_METRICS_CACHE_SECONDS
    now = timezone.now()
    if window <= 0:
        return operations_snapshot(now=now, policy=current_policy())
    cache = caches[CACHE_ALIAS]
    try:
        previous: OperationsSnapshot | None = cache.get(SNAPSHOT_KEY)
        if previous is not None and (now - previous.taken_at).total_seconds() < window:
            return previous
        if previous is not None and not cache.add(COMPUTING_KEY, 1, COMPUTING_LEASE_SECONDS):
            return previous
    except Exception:  # the cache (Redis) is down: metrics matter most then
        logger.warning("metrics cache unavailable; computing the snapshot uncached", exc_info=True)
        return operations_snapshot(now=now, policy=current_policy())
    try:
        snapshot = operations_snapshot(now=now, policy=current_policy())
        with contextlib.suppress(Exception):  # a cache that failed since: serve it anyway
            cache.set(SNAPSHOT_KEY, snapshot, window * STALE_KEPT_FOR)
    finally:
        with contextlib.suppress(Exception):
            cache.delete(COMPUTING_KEY)
    return snapshot


def _gauge(name: str, documentation: str, labels: list[str] | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=labels)


def domain_metrics(snapshot: OperationsSnapshot) -> Iterator[Metric]:
    paths = _gauge("nhi_paths", "Access paths by current status.", ["status"])
    for status, count in snapshot.paths_by_status.items():
        paths.add_metric([status], count)
    yield paths

    outbox = _gauge(
        "nhi_notifications", "Outbox rows by status and channel.", ["status", "channel"]
    )
    for (status, channel), count in sorted(snapshot.notifications.items()):
        outbox.add_metric([status, channel], count)
    yield outbox
    dead = _gauge("nhi_notifications_dead", "Notifications given up on (dead letters).")
    dead.add_metric([], snapshot.dead_notifications)
    yield dead
    oldest = _gauge(
        "nhi_notification_oldest_due_age_seconds",
        "How long the longest-waiting due notification has been due (0: none waits).",
    )
    oldest.add_metric([], snapshot.oldest_due_notification_age_seconds)
    yield oldest

    for name, label, column, documentation in (
        ("nhi_import_runs", "status", snapshot.import_runs_by_status, "Import runs by status."),
        ("nhi_export_runs", "status", snapshot.export_runs_by_status, "Export runs by status."),
        ("nhi_incidents", "state", snapshot.incidents_by_state, "Leak incidents by state."),
    ):
        family = _gauge(name, documentation, [label])
        for value, count in column.items():
            family.add_metric([value], count)
        yield family
    incidents_open = _gauge("nhi_incidents_open", "Leak incidents open (not yet contained).")
    incidents_open.add_metric([], snapshot.incidents_by_state.get("open", 0))
    yield incidents_open

    yield from _job_metrics(snapshot)
    yield from _sweep_clock_metrics(snapshot)

    taken = _gauge("nhi_metrics_snapshot_timestamp_seconds", "When these figures were computed.")
    taken.add_metric([], snapshot.taken_at.timestamp())
    yield taken


def _job_metrics(snapshot: OperationsSnapshot) -> Iterator[Metric]:
    moments = {
        "started": _gauge(
            "nhi_job_last_started_timestamp_seconds", "When a periodic job last started.", ["job"]
        ),
        "finished": _gauge(
            "nhi_job_last_finished_timestamp_seconds", "When a periodic job last ended.", ["job"]
        ),
        "succeeded": _gauge(
            "nhi_job_last_success_timestamp_seconds",
            "When a periodic job last ended without error (beat: its heartbeat).",
            ["job"],
        ),
    }
    failed = _gauge(
        "nhi_job_last_run_failed", "1 when a periodic job's last run ended in error.", ["job"]
    )
    for name, job in snapshot.jobs.items():
        for key, moment in (
            ("started", job.last_started_at),
            ("finished", job.last_finished_at),
            ("succeeded", job.last_succeeded_at),
        ):
            if moment is not None:
                moments[key].add_metric([name], moment.timestamp())
        failed.add_metric([name], 1 if job.last_error else 0)
    yield from moments.values()
    yield failed


def _sweep_clock_metrics(snapshot: OperationsSnapshot) -> Iterator[Metric]:
    details = snapshot.jobs["sweep"].details if "sweep" in snapshot.jobs else {}
    skew = details.get("clock_skew_seconds")
    if isinstance(skew, int | float):
        family = _gauge(
            "nhi_sweep_clock_skew_seconds",
            "How far the sweeping worker's clock was ahead of the database's at its last check.",
        )
        family.add_metric([], float(skew))
        yield family
    refused = _gauge("nhi_sweep_clock_refused", "1 when the sweep last stood down over clock skew.")
    refused.add_metric([], 1 if details.get("refused") else 0)
    yield refused


class DomainCollector(Collector):
    """The registry's own figures, from the cached snapshot; when the database cannot
    give them, only `nhi_metrics_domain_up 0`."""

    def collect(self) -> Iterator[Metric]:
        up = _gauge("nhi_metrics_domain_up", "1 when the registry's own figures could be read.")
        try:
            snapshot = cached_snapshot()
        except DatabaseError:
            logger.warning("metrics: the registry's figures could not be read", exc_info=True)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from domain_metrics(snapshot)


def _process_registry() -> CollectorRegistry:
    """Every web process's figures when they share PROMETHEUS_MULTIPROC_DIR, else this
    process's own."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return registry
    return REGISTRY


@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    if not may_read_metrics(request):
        raise Http404
    domain = CollectorRegistry(auto_describe=False)
    domain.register(DomainCollector())
    body = generate_latest(_process_registry()) + generate_latest(domain)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
