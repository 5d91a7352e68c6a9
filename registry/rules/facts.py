"""What the dashboard counts a path as, and until when that stays true.

One home for the classification the tally stores (registry/models/tallies.py): each
path's status, the posture rules it breaks, whether it expires soon or went unseen in
a sync, and its record quality — all built from the very predicates the inventory
filters with (rules.status, rules.posture, selectors.filters), as SQL expressions, so
the services write them set-based and a read computes the same for the few paths whose
facts have run out.

`PathFacts.valid_until` is the first instant after `now` at which any of them could change
by the passing of time alone: a review boundary, an expiry boundary, a rotation date,
the stale line, an exception's or a twin's expiry. Everything else that changes them is
a write, and every write refreshes the facts in its transaction (services.tallies).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from django.db.models import (
    Case,
    DateTimeField,
    Exists,
    Expression,
    F,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Value,
    When,
)
from django.db.models.aggregates import Min
from django.db.models.functions import Coalesce, Least
from django.db.models.lookups import GreaterThanOrEqual

from registry.models import AccessPath, Attestation, PolicyException
from registry.models.tallies import FACTS_NEVER_VALID
from registry.rules.policies import Policy
from registry.rules.posture import (
    RECOMMENDED_DATE_FIELDS,
    RECOMMENDED_TEXT_FIELDS,
    RULES,
    violation_q,
)
from registry.rules.status import LIVE_STATES, Status, status_case, status_q

# Bits of PathFacts.flags: one per posture rule (in RULES order), then these.
RULE_BITS = {rule.code: 1 << index for index, rule in enumerate(RULES)}
RULE_MASK = sum(RULE_BITS.values())
EXPIRING_BIT = 1 << len(RULES)
NOT_SEEN_BIT = EXPIRING_BIT << 1
ATTESTED_BIT = NOT_SEEN_BIT << 1
# Raise when the meaning of stored facts changes without the rules' order or the
# policy changing: the fingerprint then differs and the tally is rebuilt.
# 2: the attested-in-cycle bit (issue 16). 3: issue 18's rules.
FACTS_VERSION = 3
# "Not before the end of time": the facts of a retired path never run out by time.
END_OF_TIME = dt.datetime(9999, 12, 31, tzinfo=dt.UTC)
# Facts that must be recomputed at once (a new row's default).
NEVER_VALID = FACTS_NEVER_VALID

# The columns the facts are computed from. A write to one of them without the facts
# makes them run out (the trigger of migration 0022, which freezes this list), so even a
# write that bypasses the services is counted directly until it is reclassified.
FACT_INPUTS = (
    "system", "external_id", "environment", "owner_team_id", "steward_team_id",
    "created_by_ref", "consumers", "ticket_url", "artifact_ref", "justification",
    "privilege_scope", "risk_tier", "data_classification", "credential_lifetime",
    "rotation_days", "last_rotated_at", "last_used_at", "rotation_due_at", "broad_scope",
    "several_consumers", "interactive_login", "not_seen_since", "revocation_plan",
    "approved_by", "approved_by_team_id", "iam_team_id", "pam_team_id", "secops_team_id",
    "source_disabled_at", "expires_at", "last_attested_at", "next_review_at", "state",
    "kind", "created_via", "mfa_active", "secret_refused_at", "issuer_kind",
    "max_lease_seconds", "lease_overrun_at", "change_url", "merged_by",
    "merged_by_team_id", "proposed_by",
)  # fmt: skip

# The statuses that count as "owned" on the dashboard, and those of a review cycle still
# running (not yet past its review date): attested in cycle also needs an attestation.
OWNED_STATUSES = (Status.ACTIVE, Status.REVIEW_DUE, Status.OVERDUE, Status.LAPSED)
CURRENT_STATUSES = (Status.ACTIVE, Status.REVIEW_DUE)
# Statuses that imply the unowned states (what every team may see, to claim it).
UNOWNED_STATUSES = (Status.UNOWNED, Status.CLAIM_PENDING)
UNOWNED_STATES = (AccessPath.State.UNOWNED, AccessPath.State.CLAIM_PENDING)


def attested_in_cycle_q(*, now: dt.datetime, policy: Policy) -> Q:
    """Attested in cycle: the review cycle is still running and a person's attestation
    started it. Every way of starting a cycle sets `next_review_at`; only an attestation
    (services.attestations) also writes an Attestation row at the very instant it sets
    `last_attested_at`. So a new path (its first cycle started by registration or a
    claim's approval) is not attested, and neither is a review carried over by an import
    (`last_attested_at` without an Attestation row). Served by the attestation_by_path
    index."""
    running = Q()
    for status in CURRENT_STATUSES:
        running |= status_q(status, now=now, policy=policy)
    attested = Attestation.objects.filter(
        path_id=OuterRef("pk"), created_at=OuterRef("last_attested_at")
    )
    return running & Q(last_attested_at__isnull=False) & Q(Exists(attested))


def fingerprint(policy: Policy) -> str:
    """What stored facts depend on besides the rows: the rules' bits and the policy."""
    text = repr((FACTS_VERSION, [rule.code for rule in RULES], policy))
    return hashlib.sha256(text.encode()).hexdigest()


def _flag(condition: Q, bit: int) -> Case:
    return Case(When(condition, then=Value(bit)), default=Value(0), output_field=IntegerField())


def quality_expression() -> Expression:
    """Record completeness as a number of filled recommended fields (SQL twin of
    registry.rules.posture.record_quality)."""
    terms = [_flag(~Q(**{f: ""}), 1) for f in RECOMMENDED_TEXT_FIELDS]
    terms += [_flag(Q(**{f"{f}__isnull": False}), 1) for f in RECOMMENDED_DATE_FIELDS]
    terms.append(_flag(Q(steward_team__isnull=False), 1))
    total: Expression = terms[0]
    for term in terms[1:]:
        total = total + term
    return total


def flags_expression(*, now: dt.datetime, policy: Policy, shared: Any = None) -> Expression:
    """The posture rules a path breaks at `now`, expiring soon, not seen and attested in
    cycle, as bits."""
    # Local import: selectors.filters imports the rules; the rules must not import it
    # at module level.
    from registry.selectors.filters import expiring_within_q, not_seen_q

    terms = [
        _flag(violation_q(rule.code, now=now, policy=policy, shared=shared), RULE_BITS[rule.code])
        for rule in RULES
    ]
    terms.append(_flag(expiring_within_q(policy.expiring_soon_days, now=now), EXPIRING_BIT))
    terms.append(_flag(not_seen_q(now=now), NOT_SEEN_BIT))
    terms.append(_flag(attested_in_cycle_q(now=now, policy=policy), ATTESTED_BIT))
    total: Expression = terms[0]
    for term in terms[1:]:
        total = total + term
    return total


def facts_expressions(
    *, now: dt.datetime, policy: Policy, shared: Any = None
) -> dict[str, Expression]:
    """The classification of each path at `now`, by column of PathFacts."""
    return {
        "team_key": Coalesce(F("owner_team_id"), Value(0)),
        "status": status_case(now=now, policy=policy),
        "flags": flags_expression(now=now, policy=policy, shared=shared),
        "quality": quality_expression(),
    }


def _next_after(moment: Any, now: dt.datetime) -> Expression:
    # At or after `now`: a strict predicate (stale: last use + N days < now) flips just
    # after its moment, so a moment equal to `now` must still end the facts' validity.
    later = Case(
        When(GreaterThanOrEqual(moment, Value(now)), then=moment),
        default=Value(None),
        output_field=DateTimeField(),
    )
    return Coalesce(later, Value(END_OF_TIME), output_field=DateTimeField())


def valid_until_expression(*, now: dt.datetime, policy: Policy) -> Expression:
    """The first instant from `now` on at which time alone could change a row's facts."""
    days = dt.timedelta
    expires = F("expires_at")
    review = F("next_review_at")
    waived_until = (
        PolicyException.objects.filter(
            path_id=OuterRef("pk"),
            status=PolicyException.Status.APPROVED,
            expires_at__gt=now,
        )
        .values("path_id")
        .annotate(first=Min("expires_at"))
        .values("first")
    )
    # A twin (same external id, another path) leaving the live set changes NHI8/NHI9.
    twin_expires = (
        AccessPath.objects.filter(
            external_id=OuterRef("external_id"),
            state__in=LIVE_STATES,
            expires_at__gt=now,
        )
        .exclude(pk=OuterRef("pk"))
        .exclude(external_id="")
        .values("external_id")
        .annotate(first=Min("expires_at"))
        .values("first")
    )
    moments: list[Any] = [
        expires,
        expires - Value(days(days=policy.expiring_soon_days)),
        expires - Value(days(days=policy.max_expiry_days)),
        review - Value(policy.review_window),
        review,
        review + Value(policy.lapse_after),
        F("rotation_due_at"),
        F("last_used_at") + Value(days(days=policy.stale_after_days)),
        F("lease_overrun_at") + Value(days(days=policy.lease_overrun_window_days)),
        Subquery(waived_until, output_field=DateTimeField()),
        Subquery(twin_expires, output_field=DateTimeField()),
    ]
    first = Least(*(_next_after(moment, now) for moment in moments))
    # Unowned (or claimed) by state but past its expiry: every team still sees it by
    # its state while the tally counts it as expired, so it is counted directly at
    # every read until the sweep retires it (a few, for minutes). An owned one past its
    # expiry keeps its facts: nothing but a write changes them any more.
    return Case(
        When(Q(state__in=UNOWNED_STATES, expires_at__lte=now), then=Value(NEVER_VALID)),
        default=first,
        output_field=DateTimeField(),
    )
