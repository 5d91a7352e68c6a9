"""Status and time: is a path live, due, overdue, lapsed — and what falls due when.

The one home of these rules. Each is written twice only where it must be: as a query
predicate (`*_q`, which the planner serves from the (state, next_review_at) and (state,
expires_at) indexes) and as the same logic for one row already in memory. The sweep
(services/sweep.py) selects with the predicates; the coming-reminders page
(selectors/reminders.py) and the notification wording use the row logic; posture,
filters, the dashboard and the pages use the statuses. tests/rules/test_status_one_row.py checks
that the two forms agree for every status, and tests/services/test_sweep_preview.py
that a sweep run day by day for 60 days sends exactly what the preview predicted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import (
    BooleanField,
    Case,
    CharField,
    Exists,
    Expression,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    TextChoices,
    Value,
    When,
)

from registry.models import AccessPath, Membership, Notification, Team
from registry.rules.policies import Policy

State = AccessPath.State
Reason = Notification.Reason

LIVE_STATES = (State.UNOWNED, State.CLAIM_PENDING, State.ACTIVE)
RETIRED_STATES = (State.REVOKED, State.EXPIRED)
# The overdue ladder's last stage: the path has lapsed (Policy.escalation_days).
LADDER_STAGE_LAPSED = 4


class Status(TextChoices):
    UNOWNED = "unowned", "Unowned"
    CLAIM_PENDING = "claim_pending", "Claim pending"
    ACTIVE = "active", "Active"
    REVIEW_DUE = "review_due", "Review due"
    OVERDUE = "overdue", "Overdue"
    LAPSED = "lapsed", "Lapsed"
    EXPIRED = "expired", "Expired"
    REVOKED = "revoked", "Revoked"
    # Revoked or expired here, but nobody has confirmed the credential is disabled where
    # it lives: it may still work. Confirmed ones are REVOKED / EXPIRED.
    AWAITING_SOURCE = "awaiting_source", "Revoked here, not yet confirmed at the source"


# --- live: neither revoked nor expired (by state, or by date before the sweep) --------


def not_expired_q(now: dt.datetime) -> Q:
    return Q(expires_at__isnull=True) | Q(expires_at__gt=now)


def live_q(now: dt.datetime) -> Q:
    return Q(state__in=LIVE_STATES) & not_expired_q(now)


def owned_live_q(now: dt.datetime) -> Q:
    return Q(state=State.ACTIVE) & not_expired_q(now)


def is_live(path: Any, now: dt.datetime) -> bool:
    """`live_q` for one path (or a row with state and expires_at)."""
    return path.state in LIVE_STATES and (path.expires_at is None or path.expires_at > now)


def effective_state(path: AccessPath, now: dt.datetime) -> str:
    """The stored state, except that a live path past its expiry is already expired."""
    if path.state in LIVE_STATES and not is_live(path, now):
        return State.EXPIRED
    return path.state


class _AmongFew(Expression):
    """`column` is one of the values `subquery` selects, which are few: an array built
    once (`= ANY(ARRAY(…))`) on PostgreSQL, so the planner can serve the column from an
    index inside an OR, where `IN (subquery)` is a hashed subplan tested on every row;
    `IN (…)` elsewhere. Never NULL (a NULL column is not among them), so a negation keeps
    the rows whose column is NULL, as Django's negated `__in` does."""

    conditional = True
    output_field = BooleanField()

    def __init__(self, column: str, subquery: QuerySet) -> None:
        super().__init__()
        self.column: Any = F(column)
        self.subquery: Any = Subquery(subquery)

    def get_source_expressions(self) -> list[Any]:
        return [self.column, self.subquery]

    def set_source_expressions(self, exprs: Sequence[Any]) -> None:
        self.column, self.subquery = exprs

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, tuple]:
        column, column_params = compiler.compile(self.column)
        subquery, subquery_params = compiler.compile(self.subquery)
        among = f"ANY(ARRAY{subquery})" if connection.vendor == "postgresql" else None
        test = f"{column} = {among}" if among else f"{column} IN {subquery}"
        return f"({test} AND {column} IS NOT NULL)", (*column_params, *subquery_params)


def owner_unaccountable_q() -> Q:
    """Offboarding (NHI1): the owning team is inactive or has nobody in it.

    The few unaccountable teams are selected once (_AmongFew), not probed per path: the
    dashboard and the exports evaluate this for every owned path, and as an array the
    planner can read the paths of those teams from the owner index."""
    has_members = Exists(Membership.objects.filter(team_id=OuterRef("pk"), ended_at__isnull=True))
    unaccountable = Team.objects.filter(Q(is_active=False) | ~Q(has_members)).values("pk")
    return Q(_AmongFew("owner_team_id", unaccountable))


def staffed_team_ids(team_ids: set[int]) -> set[int]:
    """Which of these teams have current members: with Team.is_active, the in-memory side
    of owner_unaccountable_q for status_of over rows already loaded (one query)."""
    return set(
        Membership.objects.filter(team_id__in=team_ids, ended_at__isnull=True)
        .order_by()  # not Membership's default ordering: it would join teams and users
        .values_list("team_id", flat=True)
        .distinct()
    )


# --- statuses --------------------------------------------------------------------------


def status_q(status: str, *, now: dt.datetime, policy: Policy) -> Q:
    live = live_q(now)
    owned = live & Q(state=State.ACTIVE)
    lapse_line = now - policy.lapse_after
    window_end = now + policy.review_window
    accountable = ~owner_unaccountable_q()
    # Expired before the sweep marked it counts as expired (and, unconfirmed, as awaiting
    # the source): the registry's date passed, the credential may still work.
    expired = Q(state=State.EXPIRED) | (Q(state__in=LIVE_STATES) & Q(expires_at__lte=now))
    confirmed = Q(source_disabled_at__isnull=False)
    match status:
        case Status.AWAITING_SOURCE:
            return (Q(state=State.REVOKED) | expired) & Q(source_disabled_at__isnull=True)
        case Status.REVOKED:
            return Q(state=State.REVOKED) & confirmed
        case Status.EXPIRED:
            return expired & confirmed
        case Status.UNOWNED:
            return live & Q(state=State.UNOWNED)
        case Status.CLAIM_PENDING:
            return live & Q(state=State.CLAIM_PENDING)
        case Status.LAPSED:
            return owned & (Q(next_review_at__lte=lapse_line) | owner_unaccountable_q())
        case Status.OVERDUE:
            return owned & Q(next_review_at__lte=now, next_review_at__gt=lapse_line) & accountable
        case Status.REVIEW_DUE:
            return owned & Q(next_review_at__gt=now, next_review_at__lte=window_end) & accountable
        case Status.ACTIVE:
            return owned & Q(next_review_at__gt=window_end) & accountable
    raise ValueError(f"unknown status {status!r}")


def status_case(*, now: dt.datetime, policy: Policy) -> Case:
    return Case(
        *(When(status_q(s, now=now, policy=policy), then=Value(s.value)) for s in Status),
        default=Value(Status.ACTIVE.value),
        output_field=CharField(),
    )


def status_of(path: AccessPath, *, now: dt.datetime, policy: Policy, accountable: bool) -> str:
    """`status_case` for one path already in memory: the same predicates in the same
    order. For reads that must not pay for building the SQL expression (triage).
    `accountable`: the owning team is active and has current members."""
    expires = path.expires_at
    live = is_live(path, now)
    # The review date of an owned, live path (None otherwise).
    nxt = path.next_review_at if live and path.state == State.ACTIVE else None
    lapse_line = now - policy.lapse_after
    window_end = now + policy.review_window
    expired = path.state == State.EXPIRED or (
        path.state in LIVE_STATES and expires is not None and expires <= now
    )
    confirmed = path.source_disabled_at is not None
    checks = {
        Status.UNOWNED: live and path.state == State.UNOWNED,
        Status.CLAIM_PENDING: live and path.state == State.CLAIM_PENDING,
        Status.ACTIVE: nxt is not None and nxt > window_end and accountable,
        Status.REVIEW_DUE: nxt is not None and now < nxt <= window_end and accountable,
        Status.OVERDUE: nxt is not None and lapse_line < nxt <= now and accountable,
        Status.LAPSED: nxt is not None and (nxt <= lapse_line or not accountable),
        Status.EXPIRED: expired and confirmed,
        Status.REVOKED: path.state == State.REVOKED and confirmed,
        Status.AWAITING_SOURCE: (expired or path.state == State.REVOKED) and not confirmed,
    }
    return next((s.value for s in Status if checks[s]), Status.ACTIVE.value)


def lapsed_by_age(path: AccessPath, *, now: dt.datetime, policy: Policy) -> bool:
    """A lapsed path lapsed because its review is too long overdue (else: offboarding)."""
    return path.next_review_at is not None and path.next_review_at <= now - policy.lapse_after


def days_left(due: dt.datetime, at: dt.datetime) -> int:
    """Whole calendar days (UTC) from `at` to `due`: what a reminder announces."""
    return (due.astimezone(dt.UTC).date() - at.astimezone(dt.UTC).date()).days


# --- what the sweep acts on at `now` (query predicates) --------------------------------


def expiry_due_q(now: dt.datetime) -> Q:
    """Still live by state, but the expiry has passed: the sweep marks it expired."""
    return Q(state__in=LIVE_STATES, expires_at__lte=now)


def offboarded_due_q(now: dt.datetime) -> Q:
    """NHI1: an owned path whose team can no longer answer lapses at once."""
    return owned_live_q(now) & owner_unaccountable_q() & Q(escalation_stage__lt=LADDER_STAGE_LAPSED)


def ladder_due_q(now: dt.datetime, policy: Policy) -> Q:
    """Owned paths whose stage is below the one their overdue age has reached."""
    reached = Q()
    for stage, days in enumerate(policy.escalation_days, start=1):
        line = now - dt.timedelta(days=days)
        reached |= Q(next_review_at__lte=line) & Q(escalation_stage__lt=stage)
    return owned_live_q(now) & ~owner_unaccountable_q() & reached


def review_reminder_due_q(now: dt.datetime, policy: Policy) -> Q:
    """Owned, accountable, review due within the reminder window."""
    window_end = now + policy.review_window
    return (
        owned_live_q(now)
        & ~owner_unaccountable_q()
        & Q(next_review_at__gt=now, next_review_at__lte=window_end)
    )


def expiry_reminder_due_q(now: dt.datetime, policy: Policy) -> Q:
    """Live, expiring within the reminder window."""
    window_end = now + policy.review_window
    return Q(state__in=LIVE_STATES, expires_at__gt=now, expires_at__lte=window_end)


def unowned_live_q(now: dt.datetime) -> Q:
    return Q(state=State.UNOWNED) & not_expired_q(now)


def unowned_notice(since: dt.datetime, now: dt.datetime, policy: Policy) -> tuple[str, int]:
    """The (reason, stage) an unowned path's notice has reached: unowned at first,
    escalated as unclaimed after Policy.unclaimed_escalation_days."""
    if since <= now - dt.timedelta(days=policy.unclaimed_escalation_days):
        return Reason.UNCLAIMED, 1
    return Reason.UNOWNED, 0


def ladder_reason(stage: int) -> str:
    return Reason.LAPSED if stage >= LADDER_STAGE_LAPSED else Reason.REVIEW_OVERDUE


def claim_waiting_line(now: dt.datetime, policy: Policy) -> dt.datetime:
    return now - dt.timedelta(days=policy.claim_reminder_days)


def transfer_waiting_line(now: dt.datetime, policy: Policy) -> dt.datetime:
    return now - dt.timedelta(days=policy.transfer_reminder_days)


def unconfirmed_line(now: dt.datetime, policy: Policy) -> dt.datetime:
    return now - dt.timedelta(hours=policy.source_confirmation_hours)


def unconfirmed_q(now: dt.datetime, policy: Policy) -> Q:
    """Retired here longer than the policy allows, not confirmed at the source. The
    stored state only: a path expired by date enters once the sweep has marked it.
    Served by the partial index path_awaiting_source."""
    return Q(
        state__in=RETIRED_STATES,
        source_disabled_at__isnull=True,
        state_changed_at__lte=unconfirmed_line(now, policy),
    )


# --- the same, for one path, ahead of time (the coming-reminders page) -----------------


@dataclass(frozen=True)
class Due:
    """A notice that falls due at `at` (the first sweep at or after it sends it)."""

    at: dt.datetime
    reason: str
    stage: int
    due_at: dt.datetime | None = None


def coming_notices(
    path: AccessPath, *, now: dt.datetime, until: dt.datetime, policy: Policy, accountable: bool
) -> list[Due]:
    """What the sweep will send about `path` after `now` up to `until`, if nobody acts:
    the predicates above, walked forward in time. `accountable`: as in status_of.

    Each notice goes out with the first sweep at or after its time. One that falls due
    less than a sweep interval before the path's expiry may not: that sweep expires the
    path first (the preview cannot know the sweep's schedule)."""
    if path.state in RETIRED_STATES:
        return _unconfirmed(path, path.state_changed_at, now, until, policy)
    out: list[Due] = []
    expires = path.expires_at
    if expires is not None:
        out += [
            Due(expires - dt.timedelta(days=d), Reason.EXPIRY_REMINDER, d, expires)
            for d in policy.reminder_offsets_days
        ]
        out += [Due(expires, Reason.EXPIRED, 0, expires), Due(expires, Reason.EVENT_EXPIRED, 0)]
        # Marked expired by the sweep at `expires` (as near as a schedule can know).
        out += _unconfirmed(path, expires, now, until, policy)
    if path.state == State.UNOWNED:
        since = path.state_changed_at
        line = since + dt.timedelta(days=policy.unclaimed_escalation_days)
        out += [Due(since, Reason.UNOWNED, 0), Due(line, Reason.UNCLAIMED, 1)]
    if path.state == State.ACTIVE and accountable and path.next_review_at is not None:
        due = path.next_review_at
        out += [
            Due(due - dt.timedelta(days=d), Reason.REVIEW_REMINDER, d, due)
            for d in policy.reminder_offsets_days
        ]
        for stage, days in enumerate(policy.escalation_days, start=1):
            if stage > path.escalation_stage:
                at = due + dt.timedelta(days=days)
                out.append(Due(at, ladder_reason(stage), stage, due))
                if stage == LADDER_STAGE_LAPSED:
                    out.append(Due(at, Reason.EVENT_LAPSED, stage))

    def sent(item: Due) -> bool:
        # Only while the path is still live then, except its expiry and what follows.
        if item.reason in (Reason.EXPIRED, Reason.EVENT_EXPIRED, Reason.SOURCE_UNCONFIRMED):
            return True
        return expires is None or item.at < expires

    return sorted(
        (item for item in out if now < item.at <= until and sent(item)),
        key=lambda item: (item.at, item.stage),
    )


def _unconfirmed(
    path: AccessPath, retired_at: dt.datetime, now: dt.datetime, until: dt.datetime, policy: Policy
) -> list[Due]:
    if path.source_disabled_at is not None:
        return []
    at = retired_at + dt.timedelta(hours=policy.source_confirmation_hours)
    return [Due(at, Reason.SOURCE_UNCONFIRMED, 0)] if now < at <= until else []
