"""Delivering the outbox: one digest per recipient and channel per run.

Leases with a fencing token. A run takes due rows (SELECT … FOR UPDATE SKIP LOCKED),
stamps them with its own `lease_token`, moves their next attempt a lease ahead and
counts the attempt. Just before sending a digest it renews the lease on that digest's
rows where the token is still its own, and sends only the rows it still holds (a row
another run took over after the lease ran out is not this run's to send); marking a row
sent or failed requires the token too. Every send is bounded by its channel's total
deadline (NHI_SMTP_TOTAL_SECONDS, NHI_OUTBOUND_TOTAL_SECONDS) and the lease is longer
than the longest of them plus a margin (checked at start-up: rules/policies.py), so from
the renewal to the end of the send no other run can take the rows: a slow server makes
a digest fail, never go twice.

A send that succeeded is marked sent through a database blip: the mark is retried,
reconnecting, until the lease is about to end (`delivery_mark_window`: lease - 2 s after
the renewal, so at least lease - longest send - 2 s after the send).

The duplicate window: a digest goes twice only when (a) its worker dies (SIGKILL, the
task's hard time limit) between the channel accepting it and the mark committing, (b)
the database stays unreachable from the moment the send succeeded until the mark window
ends (at least 300 - 30 - 2 = 268 s with the defaults), or (c) a deadline fires after
the server accepted the message but before its answer was read. The repeat leaves once
the lease has run out and carries the same Message-ID / event id, so receivers can drop
it. Failures back off exponentially and end as dead after the policy's maximum
attempts, listed for security.

A run that nears its task's soft time limit takes no new digest, and a run interrupted
(SoftTimeLimitExceeded) stops: either way the rows it had not started to send are
released (due at once, the attempt not counted); a digest interrupted mid-send keeps
its lease, as if its worker had died.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction
from django.db.models import F
from django.utils import timezone

from registry.audit import audit_record
from registry.models import Notification, Team
from registry.rules import errors, permissions
from registry.rules.actors import Actor
from registry.rules.errors import InvalidTransition
from registry.rules.policies import (
    Policy,
    current_policy,
    delivery_mark_window,
    delivery_run_budget,
    delivery_send_seconds,
)
from registry.runtime.clock import Clock, read_clocks
from registry.services._common import refuse_if, resolve_now

log = logging.getLogger(__name__)
Status = Notification.Status
Channel = Notification.Channel

# Retrying a write through a database outage: pauses double from the first to the last.
_OUTAGE_FIRST_PAUSE = 0.2
_OUTAGE_MAX_PAUSE = 2.0


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


@dataclass(frozen=True)
class _Run:
    """One delivery run: its fencing token and its sense of time. With a fixed `now`
    (tests, simulations) time stands still; otherwise each step reads the clock,
    because a run lasts as long as its sends."""

    token: uuid.UUID
    policy: Policy
    fixed_now: dt.datetime | None
    started: float  # time.monotonic()
    budget: float | None
    # Exceptions that stop the run rather than fail one digest (the task's soft limit).
    interrupts: tuple[type[BaseException], ...] = ()

    def now(self) -> dt.datetime:
        return self.fixed_now if self.fixed_now is not None else timezone.now()

    def lease_until(self) -> dt.datetime:
        return self.now() + dt.timedelta(seconds=self.policy.delivery_lease_seconds)

    def out_of_time(self) -> bool:
        return self.budget is not None and time.monotonic() - self.started >= self.budget


def deliver(
    *,
    send: Sender,
    now: dt.datetime | None = None,
    limit: int | None = None,
    time_limit: float | None = None,
    interrupts: tuple[type[BaseException], ...] = (),
    clock: Clock = timezone.now,
) -> dict[str, int]:
    """Send what is due. `time_limit`: the soft time limit of the task running this;
    the run takes no new digest once the longest send (and a margin) would cross it.
    `interrupts`: what the runner raises to stop it (Celery's SoftTimeLimitExceeded is an
    Exception, which would otherwise count as one channel's failure).

    Leases are dated with this process's clock, so a run whose clock disagrees with the
    database's (runtime/clock.py, the sweep's guard) takes nothing: its leases would
    look expired, or everlasting, to every other worker."""
    if now is None:
        reading = read_clocks(clock)
        if not reading.trusted:
            log.error("Delivery refused to run: %s. Nothing was leased.", reading.describe())
            return {"leased": 0, "refused_clock_skew": 1}
    policy = current_policy()
    send_seconds = delivery_send_seconds(
        smtp_total_seconds=settings.NHI_SMTP_TOTAL_SECONDS,
        outbound_total_seconds=settings.NHI_OUTBOUND_TOTAL_SECONDS,
    )
    run = _Run(
        token=uuid.uuid4(),
        policy=policy,
        fixed_now=now,
        started=time.monotonic(),
        budget=delivery_run_budget(soft_limit_seconds=time_limit, send_seconds=send_seconds),
        interrupts=interrupts,
    )
    leased = _lease(run, limit or policy.delivery_batch_size)
    summary: Counter = Counter(leased=len(leased))
    waiting = _digests(leased)
    try:
        while waiting and not run.out_of_time():
            summary.update(_deliver_digest(run, waiting.pop(0), send))
    finally:
        # Reached on a normal end too: then `waiting` holds what the budget left out.
        if waiting:
            summary["released"] += _release_quietly(run, waiting)
    return {key: count for key, count in sorted(summary.items()) if count or key == "leased"}


def _lease(run: _Run, limit: int) -> list[Notification]:
    with transaction.atomic():
        ids = list(
            Notification.objects.select_for_update(skip_locked=True)
            .filter(status=Status.PENDING, next_attempt_at__lte=run.now())
            .order_by("next_attempt_at", "id")
            .values_list("id", flat=True)[:limit]
        )
        Notification.objects.filter(pk__in=ids).update(
            next_attempt_at=run.lease_until(),
            attempts=F("attempts") + 1,
            lease_token=run.token,
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


def _deliver_digest(run: _Run, digest: Digest, send: Sender) -> Counter:
    outcome: Counter = Counter()
    held = _renew(run, digest.notifications)
    renewed = time.monotonic()
    if len(held) < len(digest.notifications):
        outcome["taken_over"] += len(digest.notifications) - len(held)
        log.warning(
            "delivery to %s/%s via %s: %d row(s) were taken over by another run after "
            "this run's lease ran out; not sending them",
            digest.team.slug,
            digest.audience,
            digest.channel,
            len(digest.notifications) - len(held),
        )
    if not held:
        return outcome
    digest = replace(digest, notifications=held)
    try:
        send(digest)
    except run.interrupts:
        raise
    except Exception as exc:
        # A channel's own bug must not stall every digest after it: record it as a
        # failure of this digest (retried with backoff, then dead) and go on.
        if not isinstance(exc, DeliveryFailed):
            log.exception("unexpected error delivering to %s", digest.team.slug)
            exc = DeliveryFailed(f"{exc.__class__.__name__}: {exc}")
        log.warning(
            "delivery to %s/%s via %s failed: %s",
            digest.team.slug,
            digest.audience,
            digest.channel,
            exc.message,
        )
        outcome.update(_record_failure(run, held, exc))
        return outcome
    window = delivery_mark_window(lease_seconds=run.policy.delivery_lease_seconds)
    marked = _through_outage(
        lambda: _mark_sent(run, held),
        until=renewed + window,
        what=f"marking a sent digest to {digest.team.slug} ({len(held)} notifications)",
    )
    outcome["sent"] += marked
    outcome["digests"] += 1
    if marked < len(held):
        # Only when a send outlived the lease (a clock jump, a lease shorter than the
        # deadlines): the rows are another run's now, and this run must not mark them.
        outcome["fenced"] += len(held) - marked
        log.warning(
            "delivery to %s/%s via %s: sent, but %d row(s) had been taken over by another "
            "run meanwhile; left to it",
            digest.team.slug,
            digest.audience,
            digest.channel,
            len(held) - marked,
        )
    return outcome


def _held(run: _Run, ids: Sequence[int]) -> Any:
    """This run's rows among `ids`: still pending and still carrying its token."""
    return Notification.objects.filter(pk__in=ids, lease_token=run.token, status=Status.PENDING)


def _renew(run: _Run, rows: list[Notification]) -> list[Notification]:
    """Extend the lease on the rows this run still holds; return those rows."""
    with transaction.atomic():
        mine = _held(run, [n.pk for n in rows]).select_for_update()
        held = set(mine.values_list("id", flat=True))
        Notification.objects.filter(pk__in=held).update(next_attempt_at=run.lease_until())
    return [n for n in rows if n.pk in held]


def _mark_sent(run: _Run, rows: list[Notification]) -> int:
    return _held(run, [n.pk for n in rows]).update(
        status=Status.SENT, sent_at=run.now(), last_error="", lease_token=None
    )


def _through_outage(write: Callable[[], int], *, until: float, what: str) -> int:
    """`write()`, retried through a database outage (reconnecting) until `until`
    (time.monotonic()); past it, the error is raised."""
    pause = _OUTAGE_FIRST_PAUSE
    while True:
        try:
            return write()
        except (OperationalError, InterfaceError) as exc:
            left = until - time.monotonic()
            if left <= 0:
                log.error(
                    "database still unavailable after retrying %s; giving up before the "
                    "lease ends (the digest may be sent again): %s",
                    what,
                    exc,
                )
                raise
            log.warning("database unavailable %s, retrying for %.0f s: %s", what, left, exc)
            with contextlib.suppress(DatabaseError):  # a dead connection may fail to close
                connection.close()
            time.sleep(min(pause, left))
            pause = min(pause * 2, _OUTAGE_MAX_PAUSE)


def _record_failure(run: _Run, rows: list[Notification], exc: DeliveryFailed) -> Counter:
    outcome: Counter = Counter()
    now = run.now()
    for row in rows:
        attempts = row.attempts  # already counted when leased
        dead = exc.permanent or attempts >= run.policy.delivery_max_attempts
        changes: dict[str, Any] = {"last_error": exc.message[:2000], "lease_token": None}
        if dead:
            changes["status"] = Status.DEAD
        else:
            changes["next_attempt_at"] = now + run.policy.retry_delay(attempts)
        outcome["dead" if dead else "retrying"] += _held(run, [row.pk]).update(**changes)
    return outcome


def _release_quietly(run: _Run, digests: list[Digest]) -> int:
    """Hand back rows this run leased and never tried: due at once, the attempt not
    counted. If the database is away, they come due anyway when the lease runs out."""
    ids = [n.pk for digest in digests for n in digest.notifications]
    try:
        return _held(run, ids).update(
            next_attempt_at=run.now(), lease_token=None, attempts=F("attempts") - 1
        )
    except DatabaseError as exc:
        log.warning("could not release %d leased notifications: %s", len(ids), exc)
        return 0


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
