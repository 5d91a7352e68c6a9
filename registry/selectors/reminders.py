"""What the sweep will send: the coming reminders of a team."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Q
from django.utils import timezone

from registry.models import (
    AccessPath,
    Team,
)
from registry.rules.policies import Policy, current_policy


@dataclass(frozen=True)
class UpcomingReminder:
    at: dt.datetime
    path: AccessPath
    what: str


def reminder_preview(
    *, team: Team, now: dt.datetime | None = None, days: int = 30, policy: Policy | None = None
) -> list[UpcomingReminder]:
    """What the sweep will send about `team`'s paths in the next `days` days, in order:
    review and expiry reminders, and the escalation ladder of reviews falling due."""
    now = now or timezone.now()
    policy = policy or current_policy()
    horizon = now + dt.timedelta(days=days)
    # The (owner_team, next_review_at) index serves the review half of this query.
    paths = AccessPath.objects.filter(owner_team=team, state=AccessPath.State.ACTIVE).filter(
        Q(
            next_review_at__lte=horizon + policy.review_window,
            next_review_at__gt=now - policy.lapse_after,
        )
        | Q(expires_at__gt=now, expires_at__lte=horizon + policy.review_window)
    )
    ladder = (
        "the team is told it is overdue",
        "escalated to the team's leads",
        "escalated to security",
        "lapsed",
    )
    upcoming: list[UpcomingReminder] = []
    for path in paths.order_by("next_review_at", "id")[:2000]:
        events: list[tuple[dt.datetime, str]] = []
        if path.expires_at is None or path.next_review_at < path.expires_at:
            due = path.next_review_at
            for d in policy.reminder_offsets_days:
                events.append((due - dt.timedelta(days=d), f"review reminder ({d} days before)"))
            for d, text in zip(policy.escalation_days, ladder, strict=True):
                events.append((due + dt.timedelta(days=d), text))
        if path.expires_at is not None:
            for d in policy.reminder_offsets_days:
                at = path.expires_at - dt.timedelta(days=d)
                events.append((at, f"expiry reminder ({d} days before)"))
            events.append((path.expires_at, "expires"))
        upcoming += [UpcomingReminder(at, path, what) for at, what in events if now < at <= horizon]
    return sorted(upcoming, key=lambda r: (r.at, str(r.path.pk)))
