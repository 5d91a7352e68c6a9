"""Status, exact at read time.

A path's status is derived in the query from its stored state and dates, so it is never
stale between sweeps. `status_q` gives, for each status, a predicate that the planner can
serve from the (state, next_review_at) and (state, expires_at) indexes; `status_case`
builds the annotation from the very same predicates, so filtering and display agree.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Case, CharField, Exists, OuterRef, Q, TextChoices, Value, When

from registry.models import AccessPath, Membership, Team
from registry.rules.policies import Policy

State = AccessPath.State


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


_LIVE_STATES = (State.UNOWNED, State.CLAIM_PENDING, State.ACTIVE)


def owner_unaccountable_q() -> Q:
    """Offboarding (NHI1): the owning team is inactive or has nobody in it.

    An uncorrelated IN over the (few) teams, which PostgreSQL hashes once, rather than
    a membership probe per path: the dashboard evaluates this for every owned path."""
    has_members = Exists(Membership.objects.filter(team_id=OuterRef("pk"), ended_at__isnull=True))
    unaccountable = Team.objects.filter(Q(is_active=False) | ~Q(has_members)).values("pk")
    return Q(owner_team_id__in=unaccountable)


def status_q(status: str, *, now: dt.datetime, policy: Policy) -> Q:
    not_expired = Q(expires_at__isnull=True) | Q(expires_at__gt=now)
    live = Q(state__in=_LIVE_STATES) & not_expired
    owned = live & Q(state=State.ACTIVE)
    lapse_line = now - policy.lapse_after
    window_end = now + policy.review_window
    accountable = ~owner_unaccountable_q()
    # Expired before the sweep marked it counts as expired (and, unconfirmed, as awaiting
    # the source): the registry's date passed, the credential may still work.
    expired = Q(state=State.EXPIRED) | (Q(state__in=_LIVE_STATES) & Q(expires_at__lte=now))
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
    """`status_case` for one path already in memory, in Python: the same predicates in the
    same order (tests/test_triage.py checks they agree for every status). For reads that
    must not pay for building the SQL expression (triage). `accountable`: the owning
    team is active and has current members (the negation of owner_unaccountable_q)."""
    nxt, expires = path.next_review_at, path.expires_at
    not_expired = expires is None or expires > now
    live = path.state in _LIVE_STATES and not_expired
    owned = live and path.state == State.ACTIVE and nxt is not None
    lapse_line = now - policy.lapse_after
    window_end = now + policy.review_window
    expired = path.state == State.EXPIRED or (
        path.state in _LIVE_STATES and expires is not None and expires <= now
    )
    confirmed = path.source_disabled_at is not None
    checks = {
        Status.UNOWNED: live and path.state == State.UNOWNED,
        Status.CLAIM_PENDING: live and path.state == State.CLAIM_PENDING,
        Status.ACTIVE: owned and nxt > window_end and accountable,
        Status.REVIEW_DUE: owned and now < nxt <= window_end and accountable,
        Status.OVERDUE: owned and lapse_line < nxt <= now and accountable,
        Status.LAPSED: owned and (nxt <= lapse_line or not accountable),
        Status.EXPIRED: expired and confirmed,
        Status.REVOKED: path.state == State.REVOKED and confirmed,
        Status.AWAITING_SOURCE: (expired or path.state == State.REVOKED) and not confirmed,
    }
    return next((s.value for s in Status if checks[s]), Status.ACTIVE.value)
