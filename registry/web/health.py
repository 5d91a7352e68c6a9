"""Liveness (`/healthz`) and readiness (`/readyz`) for load balancers, orchestrators and
on-call.

`/healthz` says only that this process answers: no database, no I/O, so a busy or
degraded dependency never gets a healthy process restarted (a liveness probe that
queried the database timed out under load and restarted busy pods: issue 14).

`/readyz` says whether the registry is doing its job, each check with its reason:
the database answers, the broker answers, beat is ticking (its heartbeat,
`registry.beat_tick`, proves beat, broker and a worker all move), the outbox is being
delivered, the sweep trusts its clock, imports are being picked up. 200 when all hold,
503 otherwise. Every check is bounded: the database's statements by a statement
timeout, the broker by a one-second socket timeout, so the answer never hangs.

The thresholds are operational settings, not domain rules, hence here and not in
`rules/`: NHI_READY_BEAT_MAX_AGE_SECONDS, NHI_READY_DELIVERY_MAX_AGE_SECONDS,
NHI_READY_IMPORTS_MAX_AGE_SECONDS.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache

from registry.selectors.operations import (
    JobState,
    job_states,
    oldest_due_notification_age_seconds,
    oldest_queued_import_age_seconds,
)

logger = logging.getLogger(__name__)

# Long enough for a healthy database under load, short enough for a probe's own timeout.
DATABASE_TIMEOUT_MS = 2000
BROKER_TIMEOUT_SECONDS = 1.0
# The checks that read the database: when it does not answer, they cannot say anything.
DATABASE_CHECKS = ("beat", "delivery", "sweep", "imports")

Check = dict[str, Any]


@never_cache
def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness: the process answers. Nothing else, on purpose."""
    return HttpResponse("ok\n", content_type="text/plain")


@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    checks = readiness(now=timezone.now())
    failing = {name: check["reason"] for name, check in checks.items() if not check["ok"]}
    body = {"ready": not failing, "checks": checks}
    response = JsonResponse(body, status=503 if failing else 200)
    if failing:
        # One warning naming the reasons, instead of Django's bare "Service Unavailable"
        # error line at every probe.
        logger.warning("not ready: %s", "; ".join(f"{k}: {v}" for k, v in failing.items()))
        response._has_been_logged = True  # type: ignore[attr-defined]
    return response


def readiness(*, now: dt.datetime) -> dict[str, Check]:
    checks: dict[str, Check] = {}
    started = time.monotonic()
    try:
        with _bounded_statements():
            jobs = job_states()
            checks["database"] = {"ok": True, "reason": "", "ms": _ms_since(started)}
            checks["beat"] = beat_check(jobs["beat"], now=now)
            checks["delivery"] = delivery_check(oldest_due_notification_age_seconds(now=now))
            checks["sweep"] = sweep_check(jobs["sweep"])
            checks["imports"] = imports_check(oldest_queued_import_age_seconds(now=now))
    except DatabaseError as exc:
        # The reason stays generic (the endpoint is public); the log has the details.
        logger.warning("readiness: the database did not answer", exc_info=True)
        checks = {
            "database": {
                "ok": False,
                "reason": f"database unavailable ({type(exc).__name__})",
                "ms": _ms_since(started),
            }
        }
        for name in DATABASE_CHECKS:
            checks[name] = {"ok": False, "reason": "unknown: the database did not answer"}
    checks["broker"] = broker_check()
    return checks


def _ms_since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


@contextmanager
def _bounded_statements() -> Iterator[None]:
    """Every statement inside gives up after DATABASE_TIMEOUT_MS (PostgreSQL; SQLite is
    in-process and has its own busy timeout)."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL statement_timeout = {DATABASE_TIMEOUT_MS}")
        else:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        yield


def _age_seconds(moment: dt.datetime | None, now: dt.datetime) -> float | None:
    return None if moment is None else round(max(0.0, (now - moment).total_seconds()), 3)


def beat_check(beat: JobState, *, now: dt.datetime) -> Check:
    limit = settings.NHI_READY_BEAT_MAX_AGE_SECONDS
    age = _age_seconds(beat.last_succeeded_at, now)
    if age is None:
        return {"ok": False, "age_seconds": None, "reason": "beat has never ticked"}
    if age > limit:
        reason = f"beat's last tick is {age:.0f} s old (limit {limit} s)"
        return {"ok": False, "age_seconds": age, "reason": reason}
    return {"ok": True, "age_seconds": age, "reason": ""}


def delivery_check(oldest_due_age: float) -> Check:
    return _waiting_check(
        "oldest_due_age_seconds", oldest_due_age, settings.NHI_READY_DELIVERY_MAX_AGE_SECONDS,
        "the oldest due notification",
    )  # fmt: skip


def _waiting_check(key: str, waited: float, limit: int, what: str) -> Check:
    """Work waiting longer than `limit` seconds: its backlog is not being worked off."""
    age = round(waited, 3)
    if age > limit:
        return {key: age, "ok": False, "reason": f"{what} has waited {age:.0f} s (limit {limit} s)"}
    return {key: age, "ok": True, "reason": ""}


def sweep_check(sweep: JobState) -> Check:
    """The sweep's clock guard (registry/runtime/clock.py) records its last reading; a
    refused sweep changes nothing until the clocks agree again."""
    skew = sweep.details.get("clock_skew_seconds")
    if sweep.details.get("refused"):
        reason = f"the sweep refused to run: this clock and the database's are {skew} s apart"
        return {"clock_skew_seconds": skew, "ok": False, "reason": reason}
    return {"clock_skew_seconds": skew, "ok": True, "reason": ""}


def imports_check(oldest_queued_age: float) -> Check:
    return _waiting_check(
        "oldest_queued_age_seconds", oldest_queued_age,
        settings.NHI_READY_IMPORTS_MAX_AGE_SECONDS, "the oldest queued import",
    )  # fmt: skip


def broker_check() -> Check:
    url = settings.CELERY_BROKER_URL
    started = time.monotonic()
    if url.startswith(("redis://", "rediss://")):
        try:
            client = redis.Redis.from_url(
                url,
                socket_timeout=BROKER_TIMEOUT_SECONDS,
                socket_connect_timeout=BROKER_TIMEOUT_SECONDS,
            )
            try:
                client.ping()
            finally:
                client.close()
        except redis.RedisError as exc:
            logger.warning("readiness: the broker did not answer", exc_info=True)
            reason = f"broker unavailable ({type(exc).__name__})"
            return {"ok": False, "reason": reason, "ms": _ms_since(started)}
        return {"ok": True, "reason": "", "ms": _ms_since(started)}
    if url.startswith("filesystem://"):
        options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {})
        folder = Path(options.get("data_folder_in", ""))
        if not folder.is_dir():
            return {"ok": False, "reason": "the broker's queue folder is missing", "ms": 0}
        return {"ok": True, "reason": "", "ms": _ms_since(started)}
    # memory:// (tests) lives inside this process: nothing to reach.
    return {"ok": True, "reason": f"not checked ({url.split(':', 1)[0]} transport)", "ms": 0}
