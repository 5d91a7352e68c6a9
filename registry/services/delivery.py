"""Delivering the outbox: one digest per recipient and channel per run.

A run leases due rows (SELECT … FOR UPDATE SKIP LOCKED, then moves their next attempt
past a lease period and counts the attempt), sends, and marks a row sent only after its
channel accepted it. A worker killed mid-delivery leaves its rows pending; they come
due again when the lease runs out, so nothing is lost (a message may, rarely, arrive
twice: webhook ids let receivers drop the repeat). Failures back off exponentially and
end as dead after the policy's maximum attempts, listed for security.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import F

from registry.audit import audit_record
from registry.models import Notification, Team
from registry.rules import errors, permissions
from registry.rules.actors import Actor
from registry.rules.errors import InvalidTransition
from registry.rules.policies import Policy, current_policy
from registry.services._common import refuse_if, resolve_now

log = logging.getLogger(__name__)
Status = Notification.Status
Channel = Notification.Channel


class DeliveryFailed(Exception):
    """The channel did not accept the message. `permanent` skips the remaining retries
    (no recipient address, a webhook refused by policy)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent


@dataclass(frozen=True)
class Digest:
    team: Team
    audience: str
    channel: str
    notifications: list[Notification]


Sender = Callable[[Digest], None]


def deliver(
    *, send: Sender, now: dt.datetime | None = None, limit: int | None = None
) -> dict[str, int]:
    now = resolve_now(now)
    policy = current_policy()
    leased = _lease(now, policy, limit or policy.delivery_batch_size)
    summary: Counter = Counter(leased=len(leased))
    for digest in _digests(leased):
        ids = [n.pk for n in digest.notifications]
        try:
            send(digest)
        except Exception as exc:
            # A channel's own bug must not stall every digest after it: record it as a
            # failure of this digest (retried with backoff, then dead) and go on.
            if not isinstance(exc, DeliveryFailed):
                log.exception("unexpected error delivering to %s", digest.team.slug)
                exc = DeliveryFailed(f"{exc.__class__.__name__}: {exc}")
            summary.update(_record_failure(digest.notifications, exc, now, policy))
            log.warning(
                "delivery to %s/%s via %s failed: %s",
                digest.team.slug,
                digest.audience,
                digest.channel,
                exc.message,
            )
            continue
        sent = Notification.objects.filter(pk__in=ids, status=Status.PENDING).update(
            status=Status.SENT, sent_at=now, last_error=""
        )
        summary["sent"] += sent
        summary["digests"] += 1
    return dict(sorted(summary.items()))


def _lease(now: dt.datetime, policy: Policy, limit: int) -> list[Notification]:
    with transaction.atomic():
        ids = list(
            Notification.objects.select_for_update(skip_locked=True)
            .filter(status=Status.PENDING, next_attempt_at__lte=now)
            .order_by("next_attempt_at", "id")
            .values_list("id", flat=True)[:limit]
        )
        Notification.objects.filter(pk__in=ids).update(
            next_attempt_at=now + dt.timedelta(seconds=policy.delivery_lease_seconds),
            attempts=F("attempts") + 1,
        )
    return list(
        Notification.objects.filter(pk__in=ids).select_related("team", "path").order_by("id")
    )


def _digests(rows: list[Notification]) -> list[Digest]:
    """People get one digest per channel; each webhook event is its own message."""
    groups: dict[tuple, list[Notification]] = defaultdict(list)
    for row in rows:
        key: tuple[Any, ...] = (row.team_id, row.audience, row.channel)
        if row.channel == Channel.WEBHOOK:
            key += (row.pk,)
        groups[key].append(row)
    return [
        Digest(
            team=items[0].team,
            audience=items[0].audience,
            channel=items[0].channel,
            notifications=items,
        )
        for items in groups.values()
    ]


def _record_failure(
    rows: list[Notification], exc: DeliveryFailed, now: dt.datetime, policy: Policy
) -> Counter:
    outcome: Counter = Counter()
    for row in rows:
        attempts = row.attempts  # already counted when leased
        dead = exc.permanent or attempts >= policy.delivery_max_attempts
        changes: dict[str, Any] = {"last_error": exc.message[:2000]}
        if dead:
            changes["status"] = Status.DEAD
        else:
            changes["next_attempt_at"] = now + policy.retry_delay(attempts)
        outcome["dead" if dead else "retrying"] += Notification.objects.filter(
            pk=row.pk, status=Status.PENDING
        ).update(**changes)
    return outcome


@transaction.atomic
def notification_retry(
    *, actor: Actor, notification: Notification, now: dt.datetime | None = None
) -> Notification:
    """Give a dead notification another full set of attempts (after fixing its channel)."""
    now = resolve_now(now)
    refuse_if(permissions.refuse_team_admin(actor))
    updated = Notification.objects.filter(pk=notification.pk, status=Status.DEAD).update(
        status=Status.PENDING, attempts=0, next_attempt_at=now
    )
    if updated != 1:
        raise InvalidTransition(errors.NOTIFICATION_NOT_DEAD)
    notification.refresh_from_db()
    audit_record(
        actor=actor,
        action="notification.retried",
        obj=notification,
        path=notification.path,
        now=now,
        changes={"status": [Status.DEAD, Status.PENDING]},
    )
    return notification
