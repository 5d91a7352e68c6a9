"""When each periodic job last started, finished and succeeded (`JobTick`): what /readyz
and the metrics read to tell a stuck worker or a dead beat from a quiet one.

Operational metadata, not a domain change: nothing here is audited (an audit event per
tick would be thousands of rows a day that say nothing about any path, team or person).
Each call is one upsert on the job's own row, so two workers running the same job write
the same row without a lock, and `details` is merged key by key (the sweep's clock guard,
registry/runtime/clock.py, keeps its own keys on the `sweep` row).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

from django.db import DatabaseError, transaction

from registry.models import JobTick
from registry.rules.secret_scan import redact
from registry.services._common import resolve_now

logger = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")

# Enough of a failure to recognise it; the worker's log has the whole traceback.
MAX_ERROR_CHARS = 2000


def _locked(name: str) -> JobTick:
    tick, _ = JobTick.objects.select_for_update().get_or_create(name=name)
    return tick


@transaction.atomic
def job_started(name: str, *, now: dt.datetime | None = None) -> None:
    tick = _locked(name)
    tick.last_started_at = resolve_now(now)
    tick.save(update_fields=["last_started_at"])


@transaction.atomic
def job_finished(
    name: str,
    *,
    ok: bool,
    error: str = "",
    details: Mapping[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> None:
    """Record the end of a run: success moves `last_succeeded_at` and clears the last
    error; `details` are merged into what the row already holds."""
    now = resolve_now(now)
    tick = _locked(name)
    tick.last_finished_at = now
    fields = ["last_finished_at", "last_error"]
    if ok:
        tick.last_succeeded_at = now
        tick.last_error = ""
        fields.append("last_succeeded_at")
    else:
        # An exception's text may quote what a task was handed: never store a credential.
        tick.last_error = redact(error)[:MAX_ERROR_CHARS]
    if details:
        tick.details = _merged(tick, details)
        fields.append("details")
    tick.save(update_fields=fields)


@transaction.atomic
def job_details(name: str, details: Mapping[str, Any]) -> None:
    """Merge `details` into a job's row, keeping the keys other recorders wrote (the
    sweep's clock guard and the tick recorder share the `sweep` row)."""
    tick = _locked(name)
    tick.details = _merged(tick, details)
    tick.save(update_fields=["details"])


def _merged(tick: JobTick, details: Mapping[str, Any]) -> dict[str, Any]:
    kept = tick.details if isinstance(tick.details, dict) else {}
    return {**kept, **details}


def _record_quietly(write, *args, **kwargs) -> None:
    """A tick that cannot be written (the database is what failed) must not hide the
    job's own outcome: log it and let the job's result or exception stand."""
    try:
        write(*args, **kwargs)
    except DatabaseError:
        logger.warning("could not record the tick of job %s", args[0], exc_info=True)


@contextmanager
def job_tick(name: str) -> Iterator[dict[str, Any]]:
    """Wrap one run of a periodic job (a task, at the edge: the clock is read at entry
    and at exit): started, then finished ok or with the exception's text, which is
    re-raised. The yielded dict's keys are merged into the row's `details`."""
    details: dict[str, Any] = {}
    _record_quietly(job_started, name)
    try:
        yield details
    except BaseException as exc:
        _record_quietly(
            job_finished, name, ok=False, error=f"{type(exc).__name__}: {exc}", details=details
        )
        raise
    _record_quietly(job_finished, name, ok=True, details=details)


def records_tick(name: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a periodic task so each run records its tick (workers/tasks.py)."""

    def decorate(task: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(task)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            with job_tick(name):
                return task(*args, **kwargs)

        return run

    return decorate


def beat_tick() -> None:
    """The beat's heartbeat (`registry.beat_tick`): a worker ran what beat sent through
    the broker, so beat, broker and a worker are all moving."""
    job_finished("beat", ok=True)
