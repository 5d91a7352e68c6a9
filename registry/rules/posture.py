"""Posture rules, mapped to the OWASP NHI Top 10 (2025), plus registry hygiene.

Each rule is one predicate (a Q) over access paths, so the dashboard counts it, the
inventory filters by it and the path page lists it from the very same definition. An
approved, unexpired PolicyException for the rule silences it on that path.

The "silenced" test is an uncorrelated IN (...) set that PostgreSQL hashes once. The
"same external id in several environments/systems" tests (NHI8, NHI9) are per-path
EXISTS probes on the path_external_id index: a page tests one path, or reads paths until
it has a page, and must not aggregate the whole estate to do so. A caller that tests
every path passes a SharedIds snapshot taken once instead.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from django.db.models import BooleanField, Exists, ExpressionWrapper, F, Max, Min, OuterRef, Q
from django.db.models.functions import Length
from django.db.models.lookups import LessThan

from registry.models import AccessPath, Attestation, PolicyException
from registry.rules.control_points import missing_authority_q
from registry.rules.policies import Policy
from registry.rules.status import live_q, owner_unaccountable_q

Rule = PolicyException.Rule
State = AccessPath.State

# Declared scopes that grant everything: admin roles, a bare wildcard ("*", "s3:*",
# not a path glob like "bucket/*"), "owner", "root".
OVERPRIVILEGED_SCOPE = re.compile(
    r"((^|[\s:,])\*|admin|superuser|full[ _-]?access|\b(owner|root)\b|:all\b"
    r"|\ball[ _-]?(repos|projects|scopes))",
    re.IGNORECASE,
)
# More than one consumer listed (comma, semicolon or newline separated).
SEVERAL_CONSUMERS = re.compile(r"[,;\n]\s*[^,;\s]")
# The fields derived_facts reads: a change to any of them recomputes the facts.
DERIVED_FROM = frozenset(
    {"credential_lifetime", "rotation_days", "last_rotated_at", "privilege_scope", "consumers"}
)


def derived_facts(path: AccessPath, policy: Policy) -> dict[str, Any]:
    """Facts the posture rules test that follow from the row alone. Stored by the
    services on every write of their inputs, so counting them over the estate is an
    indexed comparison instead of a regular expression per row (which cost 200 ms per
    100,000 paths on PostgreSQL), and one Python definition serves SQLite and PostgreSQL
    alike."""
    return {
        "rotation_due_at": policy.rotation_due_at(
            credential_lifetime=path.credential_lifetime,
            rotation_days=path.rotation_days,
            last_rotated_at=path.last_rotated_at,
            created_at=path.created_at,
        ),
        "broad_scope": bool(OVERPRIVILEGED_SCOPE.search(path.privilege_scope or "")),
        "several_consumers": bool(SEVERAL_CONSUMERS.search(path.consumers or "")),
    }


@dataclass(frozen=True)
class PostureRule:
    code: str
    owasp: str  # the OWASP NHI Top 10 id, or "" for registry hygiene
    title: str
    explanation: str

    @property
    def label(self) -> str:
        return f"{self.owasp} {self.title}" if self.owasp else self.title


RULES: tuple[PostureRule, ...] = (
    PostureRule(
        Rule.NHI1_OFFBOARDING,
        "NHI1",
        "Improper offboarding",
        "The owning team is inactive or has no members, so nobody answers for it.",
    ),
    PostureRule(
        Rule.NHI5_OVERPRIVILEGED,
        "NHI5",
        "Overprivileged",
        "The declared privilege scope is an admin role or a wildcard.",
    ),
    PostureRule(
        Rule.NO_EXPIRY,
        "NHI7",
        "No expiry",
        "The path is owned but never expires.",
    ),
    PostureRule(
        Rule.NHI7_LONG_LIVED,
        "NHI7",
        "Long-lived secret past rotation",
        "A long-lived or static credential is past its rotation date, or expires further "
        "ahead than the policy allows (a source reported it so).",
    ),
    PostureRule(
        Rule.NHI8_ENV_ISOLATION,
        "NHI8",
        "Environment isolation",
        "The same external id is registered in more than one environment.",
    ),
    PostureRule(
        Rule.NHI9_REUSE,
        "NHI9",
        "Reuse",
        "One identity serves several consumers or systems.",
    ),
    PostureRule(
        Rule.NHI10_HUMAN_USE,
        "NHI10",
        "Human use",
        "A person can sign in with it, or its latest attestation says one does.",
    ),
    PostureRule(
        Rule.MISSING_TICKET,
        "",
        "Missing ticket",
        "The owned path has no ticket recording where it was decided.",
    ),
    PostureRule(
        Rule.WEAK_JUSTIFICATION,
        "",
        "Weak justification",
        "The justification is missing or too short to say why the access exists.",
    ),
    PostureRule(
        Rule.STALE_RECORD,
        "",
        "Stale record",
        "The credential has not been used for a long time; the access is likely dead.",
    ),
    PostureRule(
        Rule.MISSING_AUTHORITY,
        "",
        "Missing approver or control-point owner",
        "A high or critical path must name who approved its authority and an owner for "
        "each control point (IAM, PAM, platform runtime, security monitoring).",
    ),
)


@dataclass(frozen=True)
class SharedIds:
    """External ids that live paths share across environments (NHI8) or systems (NHI9),
    read once for a page that tests them for every path (the dashboard)."""

    across_environments: frozenset[str]
    across_systems: frozenset[str]


def shared_external_ids(now: dt.datetime) -> SharedIds:
    rows = (
        AccessPath.objects.filter(live_q(now))
        .exclude(external_id="")
        .values("external_id")
        .annotate(
            env_low=Min("environment"),
            env_high=Max("environment"),
            sys_low=Min("system"),
            sys_high=Max("system"),
        )
        .filter(Q(env_low__lt=F("env_high")) | Q(sys_low__lt=F("sys_high")))
        .values_list("external_id", "env_low", "env_high", "sys_low", "sys_high")
    )
    environments, systems = set(), set()
    for external_id, env_low, env_high, sys_low, sys_high in rows:
        if env_low != env_high:
            environments.add(external_id)
        if sys_low != sys_high:
            systems.add(external_id)
    return SharedIds(frozenset(environments), frozenset(systems))


def _twin_elsewhere_q(field: str, now: dt.datetime) -> Q:
    """Another live path carries this path's external id with a different `field` value.

    A per-path EXISTS probe on the path_external_id index: a page that tests one path,
    or the first page of an inventory filtered by posture, reads a handful of twins
    instead of aggregating every live path (1.8 s at 1M paths, against 0.9 ms). The
    tested path is live itself (violation_q says so), so "another live path with a
    different value" is the same as "live paths span several values"."""
    twins = (
        AccessPath.objects.filter(live_q(now), external_id=OuterRef("external_id"))
        # Repeated inside so that PostgreSQL matches the partial index's predicate.
        .exclude(external_id="")
        .exclude(**{field: OuterRef(field)})
    )
    return ~Q(external_id="") & Q(Exists(twins))


def _shared(field: str, now: dt.datetime, shared: SharedIds | None) -> Q:
    """NHI8 (`environment`) / NHI9 (`system`): per-path probes, or membership in the
    snapshot a caller that tests every path took once (the dashboard)."""
    if shared is None:
        return _twin_elsewhere_q(field, now)
    ids = shared.across_environments if field == "environment" else shared.across_systems
    return Q(external_id__in=sorted(ids))


def _violation_q(
    code: str, *, now: dt.datetime, policy: Policy, shared: SharedIds | None = None
) -> Q:
    owned = Q(state=State.ACTIVE)
    match code:
        case Rule.NHI1_OFFBOARDING:
            return owned & owner_unaccountable_q()
        case Rule.NHI5_OVERPRIVILEGED:
            return Q(broad_scope=True)
        case Rule.NO_EXPIRY:
            return owned & Q(expires_at__isnull=True)
        case Rule.NHI7_LONG_LIVED:
            # Past rotation, or an expiry beyond the policy's cap: a person cannot set
            # one, but an import records what the source states (an Entra secret
            # ending in 2100).
            too_far = now + dt.timedelta(days=policy.max_expiry_days)
            return Q(rotation_due_at__lte=now) | Q(expires_at__gt=too_far)
        case Rule.NHI8_ENV_ISOLATION:
            return _shared("environment", now, shared)
        case Rule.NHI9_REUSE:
            return Q(several_consumers=True) | _shared("system", now, shared)
        case Rule.NHI10_HUMAN_USE:
            # A per-path probe on the attestations' path index: the dashboard's exact
            # counts test a handful of paths, and an uncorrelated set would hash every
            # attestation of the estate for them.
            latest_says_human_use = Attestation.objects.filter(
                path_id=OuterRef("pk"), no_human_use=False, created_at=OuterRef("last_attested_at")
            )
            return Q(interactive_login=True) | (owned & Q(Exists(latest_says_human_use)))
        case Rule.MISSING_TICKET:
            return owned & Q(ticket_url="")
        case Rule.WEAK_JUSTIFICATION:
            return owned & Q(LessThan(Length("justification"), policy.justification_min_length))
        case Rule.STALE_RECORD:
            return Q(last_used_at__lt=now - dt.timedelta(days=policy.stale_after_days))
        case Rule.MISSING_AUTHORITY:
            # Unowned discovered paths too: nobody approved discovered access.
            return missing_authority_q()
    raise ValueError(f"unknown posture rule {code!r}")


def silenced_q(code: str, *, now: dt.datetime) -> Q:
    waived = PolicyException.objects.filter(
        rule=code, status=PolicyException.Status.APPROVED, expires_at__gt=now
    ).values("path_id")
    return Q(pk__in=waived)


def violation_q(
    code: str, *, now: dt.datetime, policy: Policy, shared: SharedIds | None = None
) -> Q:
    """Live paths that break `code` and hold no live exception for it. `shared`: a
    snapshot of shared external ids taken at `now`, else they are a subquery."""
    breaks = _violation_q(code, now=now, policy=policy, shared=shared)
    return live_q(now) & breaks & ~silenced_q(code, now=now)


def any_violation_q(*, now: dt.datetime, policy: Policy, shared: SharedIds | None = None) -> Q:
    combined = Q()
    for rule in RULES:
        combined |= violation_q(rule.code, now=now, policy=policy, shared=shared)
    return combined


def path_violations(path: AccessPath, *, now: dt.datetime, policy: Policy) -> list[PostureRule]:
    """The rules one path breaks now, from the same predicates as violation_q, in two
    small queries: the row's liveness and the rules' own tests (NHI8/NHI9 as per-path
    probes), and the rules its live exceptions silence. Building live_q and the silencing
    subquery eleven times over, as violation_q per rule would, cost more than the
    queries. The row is read again: a path held in memory may be stale."""
    tests = {
        f"breaks_{rule.code}": _violation_q(rule.code, now=now, policy=policy) for rule in RULES
    }
    flags = (
        AccessPath.objects.filter(live_q(now), pk=path.pk)
        .annotate(
            **{name: ExpressionWrapper(q, output_field=BooleanField()) for name, q in tests.items()}
        )
        .values(*tests)
        .first()
    )
    if flags is None:  # retired (or gone): nothing to answer for
        return []
    waived = set(
        PolicyException.objects.filter(
            path_id=path.pk, status=PolicyException.Status.APPROVED, expires_at__gt=now
        ).values_list("rule", flat=True)
    )
    return [rule for rule in RULES if flags[f"breaks_{rule.code}"] and rule.code not in waived]


# What a complete record carries beyond the required fields (ServiceNow's "completeness").
RECOMMENDED_TEXT_FIELDS = (
    "ticket_url",
    "justification",
    "artifact_ref",
    "consumers",
    "privilege_scope",
    "data_classification",
    "revocation_plan",
    "created_by_ref",
)
RECOMMENDED_DATE_FIELDS = ("expires_at", "last_used_at")
RECOMMENDED_FIELD_COUNT = len(RECOMMENDED_TEXT_FIELDS) + len(RECOMMENDED_DATE_FIELDS) + 1


def record_quality(path: AccessPath) -> int:
    """Completeness, 0-100: the share of recommended fields that are filled in."""
    filled = sum(1 for f in RECOMMENDED_TEXT_FIELDS if getattr(path, f))
    filled += sum(1 for f in RECOMMENDED_DATE_FIELDS if getattr(path, f) is not None)
    filled += 1 if path.steward_team_id else 0
    return round(100 * filled / RECOMMENDED_FIELD_COUNT)
