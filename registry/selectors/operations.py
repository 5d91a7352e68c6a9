"""What an operator watches: the figures /metrics exports and /readyz checks.

Each figure is one query (a GROUP BY or an aggregate) over an indexed column or a small
table, computed when asked; `operations_snapshot` gathers them all at one moment.
Counting paths by status evaluates the same predicates the inventory filters with
(`rules/status.status_case`), which costs about a second at a million paths: callers
that repeat it (the metrics endpoint) cache the snapshot (registry/web/metrics.py).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Min, Model
from django.db.models.functions import Coalesce

from registry.models import AccessPath, ExportRun, ImportRun, Incident, JobTick, Notification
from registry.rules.policies import Policy
from registry.rules.status import Status, status_case

# The jobs beat schedules, and `beat` (its heartbeat): always reported, even before
# their first run, so a job that never ran shows up as such.
JOB_NAMES = ("sweep", "deliver", "imports", "anchor", "beat", "exports")


@dataclass(frozen=True)
class JobState:
    """One periodic job's `JobTick` row (all None before its first run)."""

    name: str
    last_started_at: dt.datetime | None = None
    last_finished_at: dt.datetime | None = None
    last_succeeded_at: dt.datetime | None = None
    last_error: str = ""
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OperationsSnapshot:
    taken_at: dt.datetime
    paths_by_status: dict[str, int]
    # (status, channel) -> rows; statuses with no rows are absent.
    notifications: dict[tuple[str, str], int]
    oldest_due_notification_age_seconds: float
    import_runs_by_status: dict[str, int]
    export_runs_by_status: dict[str, int]
    incidents_by_state: dict[str, int]
    jobs: dict[str, JobState]

    @property
    def dead_notifications(self) -> int:
        dead = Notification.Status.DEAD
        return sum(n for (status, _), n in self.notifications.items() if status == dead)


def _counts(model: type[Model], column: str, choices: list[str]) -> dict[str, int]:
    """`model`'s rows per value of `column`, every choice present (0 when none)."""
    found = dict(model._default_manager.values_list(column).annotate(n=Count("pk")).order_by())
    return {choice: found.get(choice, 0) for choice in choices}


def paths_by_status(*, now: dt.datetime, policy: Policy) -> dict[str, int]:
    rows = (
        AccessPath.objects.annotate(current_status=status_case(now=now, policy=policy))
        .values_list("current_status")
        .annotate(n=Count("pk"))
        .order_by()
    )
    found = dict(rows)
    return {status.value: found.get(status.value, 0) for status in Status}


def notifications_by_status_and_channel() -> dict[tuple[str, str], int]:
    rows = Notification.objects.values_list("status", "channel").annotate(n=Count("pk")).order_by()
    return {(status, channel): n for status, channel, n in rows}


def oldest_due_notification_age_seconds(*, now: dt.datetime) -> float:
    """How long the longest-waiting due notification has been due (0 when none is):
    the delivery backlog's age. Reads the `notification_due` partial index."""
    oldest = Notification.objects.filter(
        status=Notification.Status.PENDING, next_attempt_at__lte=now
    ).aggregate(oldest=Min("next_attempt_at"))["oldest"]
    return 0.0 if oldest is None else max(0.0, (now - oldest).total_seconds())


def job_states() -> dict[str, JobState]:
    rows = {tick.name: tick for tick in JobTick.objects.all()}
    states = {}
    for name in sorted(set(JOB_NAMES) | set(rows)):
        tick = rows.get(name)
        states[name] = (
            JobState(name=name)
            if tick is None
            else JobState(
                name=name,
                last_started_at=tick.last_started_at,
                last_finished_at=tick.last_finished_at,
                last_succeeded_at=tick.last_succeeded_at,
                last_error=tick.last_error,
                details=dict(tick.details or {}),
            )
        )
    return states


def operations_snapshot(*, now: dt.datetime, policy: Policy) -> OperationsSnapshot:
    return OperationsSnapshot(
        taken_at=now,
        paths_by_status=paths_by_status(now=now, policy=policy),
        notifications=notifications_by_status_and_channel(),
        oldest_due_notification_age_seconds=oldest_due_notification_age_seconds(now=now),
        import_runs_by_status=_counts(ImportRun, "status", ImportRun.Status.values),
        export_runs_by_status=_counts(ExportRun, "status", ExportRun.Status.values),
        incidents_by_state=_counts(Incident, "state", Incident.State.values),
        jobs=job_states(),
    )


def oldest_queued_import_age_seconds(*, now: dt.datetime) -> float:
    """How long the oldest import still waiting for a worker has waited (0 when none).
    A run taken back from a dead worker waits since its last heartbeat, not its upload."""
    oldest = ImportRun.objects.filter(status=ImportRun.Status.QUEUED).aggregate(
        oldest=Min(Coalesce("heartbeat_at", "created_at"))
    )["oldest"]
    return 0.0 if oldest is None else max(0.0, (now - oldest).total_seconds())
