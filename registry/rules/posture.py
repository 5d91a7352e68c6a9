"""Posture rules, mapped to the OWASP NHI Top 10 (2025), NIST CSF 2.0 and the NIST AI
RMF 1.0, plus registry hygiene (rules/frameworks.py: the controls and what they claim).

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

from registry.models import (
    AccessPath,
    Attestation,
    Incident,
    PolicyException,
    SignoffPolicy,
    SystemControlPolicy,
)
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
# Credentials that stay valid until someone rotates them (NHI6, agent credentials).
KEPT_LIFETIMES = (AccessPath.CredentialLifetime.STATIC, AccessPath.CredentialLifetime.LONG_LIVED)
# Risk tiers whose paths need a sign-off policy (agent credentials need one at any tier).
SIGNOFF_TIERS = (AccessPath.RiskTier.HIGH, AccessPath.RiskTier.CRITICAL)
# Access made by these must record its provenance (change, merger, proposing tool).
PROVENANCE_REQUIRED = (AccessPath.CreatedVia.PIPELINE, AccessPath.CreatedVia.AI_AGENT)


def provenance_missing_q() -> Q:
    """What a pipeline-made or agent-made path lacks: the change, who merged it and in
    which team, an owning team, and for an agent the tool that proposed it. The same
    test as rules.validation.provenance_missing, for a row."""
    missing = (
        Q(change_url="") | Q(merged_by="") | Q(merged_by_team__isnull=True)
        | Q(owner_team__isnull=True)
    )  # fmt: skip
    return missing | Q(created_via=AccessPath.CreatedVia.AI_AGENT, proposed_by="")


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
    fix: str  # what the owner does to stop breaking it
    nist_csf: tuple[str, ...] = ()  # NIST CSF 2.0 subcategories it supports
    ai_rmf: tuple[str, ...] = ()  # NIST AI RMF 1.0 subcategories it supports

    @property
    def label(self) -> str:
        return f"{self.owasp} {self.title}" if self.owasp else self.title

    @property
    def framework_ids(self) -> tuple[str, ...]:
        """Every framework id it maps to: OWASP NHI, then NIST CSF 2.0, then AI RMF."""
        return ((self.owasp,) if self.owasp else ()) + self.nist_csf + self.ai_rmf


# CSF 2.0: GV.OC-02 (stakeholders' needs: a named owner), GV.RR-02 (roles, responsibilities
# and authorities), ID.AM-08 (managed through the life cycle), PR.AA-01 (identities and
# credentials managed), PR.AA-03 (authenticated), PR.AA-05 (least privilege), PR.DS-01
# (data at rest protected). AI RMF: GOVERN 1.6 (inventory), GOVERN 2.1 (roles documented),
# GOVERN 3.2 (human-AI oversight roles), MANAGE 2.4 (disengage, deactivate), MEASURE 2.7
# (security and resilience evaluated).
RULES: tuple[PostureRule, ...] = (
    PostureRule(
        Rule.NHI1_OFFBOARDING,
        "NHI1",
        "Improper offboarding",
        "The owning team is inactive or has no members, so nobody answers for it.",
        "Transfer the path to an active team with members, or revoke it.",
        ("GV.OC-02", "GV.RR-02"),
        ("GOVERN 2.1", "MANAGE 2.4"),
    ),
    PostureRule(
        Rule.NHI2_SECRET_LEAKAGE,
        "NHI2",
        "Secret leakage",
        "A leak incident is open for it, or its credential was pasted into the registry "
        "(and refused) and has not been rotated since.",
        "Rotate the credential at its source, record the rotation, and contain the incident.",
        ("PR.DS-01", "PR.AA-01"),
        ("MEASURE 2.7",),
    ),
    PostureRule(
        Rule.NHI4_INSECURE_AUTH,
        "NHI4",
        "Insecure authentication",
        "A person can sign in with it and its source reports no multi-factor authentication.",
        "Turn on MFA at the source, or remove the sign-in (a machine needs none).",
        ("PR.AA-03",),
        ("MEASURE 2.7",),
    ),
    PostureRule(
        Rule.NHI5_OVERPRIVILEGED,
        "NHI5",
        "Overprivileged",
        "The declared privilege scope is an admin role or a wildcard.",
        "Narrow the scope to the actions and resources the consumer uses.",
        ("PR.AA-05",),
        ("MEASURE 2.7",),
    ),
    PostureRule(
        Rule.NHI6_WORKLOAD_IDENTITY,
        "NHI6",
        "Static key where workload identity is offered",
        "A static or long-lived credential on a platform that offers workload identity "
        "(its system's control policy says so).",
        "Use the platform's workload identity (OIDC federation, IRSA, Workload Identity "
        "Federation, SPIFFE) and revoke the key.",
        ("PR.AA-01", "PR.AA-03"),
        ("MEASURE 2.7",),
    ),
    PostureRule(
        Rule.NO_EXPIRY,
        "NHI7",
        "No expiry",
        "The path is owned but never expires.",
        "Set an expiry within the policy's window.",
        ("PR.AA-01", "ID.AM-08"),
        ("MANAGE 2.4",),
    ),
    PostureRule(
        Rule.NHI7_LONG_LIVED,
        "NHI7",
        "Long-lived secret past rotation",
        "A long-lived or static credential is past its rotation date, or expires further "
        "ahead than the policy allows (a source reported it so).",
        "Rotate the credential and record the rotation, or move it to a short-lived one.",
        ("PR.AA-01",),
    ),
    PostureRule(
        Rule.NHI7_AGENT_STATIC,
        "NHI7",
        "Static agent credential",
        "An AI agent holds a static or long-lived credential.",
        "Issue the agent short-lived credentials from an issuer (register the issuer "
        "once; its leases are recorded under it).",
        ("PR.AA-01",),
        ("GOVERN 3.2", "MEASURE 2.7"),
    ),
    PostureRule(
        Rule.NHI7_LEASE_OVER_MAX,
        "NHI7",
        "Lease over the issuer's maximum",
        "The issuer issued a lease longer than its declared maximum within the policy's window.",
        "Cap the lease length at the issuer (the role's max TTL) at the declared maximum.",
        ("PR.AA-01",),
        ("MEASURE 2.7",),
    ),
    PostureRule(
        Rule.NHI8_ENV_ISOLATION,
        "NHI8",
        "Environment isolation",
        "The same external id is registered in more than one environment.",
        "Give each environment its own identity.",
        ("PR.AA-05",),
    ),
    PostureRule(
        Rule.NHI9_REUSE,
        "NHI9",
        "Reuse",
        "One identity serves several consumers or systems.",
        "Give each consumer its own identity.",
        ("PR.AA-05",),
    ),
    PostureRule(
        Rule.NHI10_HUMAN_USE,
        "NHI10",
        "Human use",
        "A person can sign in with it, or its latest attestation says one does.",
        "Give the person their own account and remove the sign-in.",
        ("PR.AA-03", "PR.AA-05"),
    ),
    PostureRule(
        Rule.MISSING_TICKET,
        "",
        "Missing ticket",
        "The owned path has no ticket recording where it was decided.",
        "Link the ticket where the access was decided.",
        ("ID.AM-08",),
        ("GOVERN 1.6",),
    ),
    PostureRule(
        Rule.WEAK_JUSTIFICATION,
        "",
        "Weak justification",
        "The justification is missing or too short to say why the access exists.",
        "Say what needs the access and why.",
        ("ID.AM-08",),
        ("GOVERN 1.6",),
    ),
    PostureRule(
        Rule.STALE_RECORD,
        "",
        "Stale record",
        "The credential has not been used for a long time; the access is likely dead.",
        "Revoke it, or record its use if the source is wrong.",
        ("PR.AA-01", "ID.AM-08"),
        ("MANAGE 2.4",),
    ),
    PostureRule(
        Rule.MISSING_AUTHORITY,
        "",
        "Missing approver or control-point owner",
        "A high or critical path must name who approved its authority and an owner for "
        "each control point (IAM, PAM, platform runtime, security monitoring).",
        "Record who approved it and the control-point owners.",
        ("GV.RR-02",),
        ("GOVERN 2.1",),
    ),
    PostureRule(
        Rule.MISSING_SIGNOFF_POLICY,
        "",
        "Missing sign-off policy",
        "An agent credential or a high or critical path has no sign-off policy: which "
        "actions need a person's decision, the thresholds and the rollback path.",
        "Set the path's sign-off policy (a lead approves it).",
        ("GV.RR-02",),
        ("GOVERN 3.2", "MANAGE 2.4"),
    ),
    PostureRule(
        Rule.MISSING_PROVENANCE,
        "",
        "Missing provenance",
        "Access made by a pipeline or an AI agent does not record the change that made "
        "it, who merged it in which team, and (for an agent) the tool that proposed it, "
        "or has no owning team.",
        "Record the pull request or commit, the merging person and team and the "
        "proposing tool; the merging team owns it.",
        ("GV.OC-02", "ID.AM-08"),
        ("GOVERN 1.6", "GOVERN 2.1"),
    ),
)

RULE_BY_CODE = {rule.code: rule for rule in RULES}


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
        case Rule.NHI2_SECRET_LEAKAGE:
            # A per-path probe on incident_by_path.
            open_leak = Incident.objects.filter(path_id=OuterRef("pk"), state=Incident.State.OPEN)
            not_rotated_since = Q(last_rotated_at__isnull=True) | Q(
                last_rotated_at__lt=F("secret_refused_at")
            )
            return Q(Exists(open_leak)) | (Q(secret_refused_at__isnull=False) & not_rotated_since)
        case Rule.NHI4_INSECURE_AUTH:
            return Q(interactive_login=True, mfa_active=False)
        case Rule.NHI6_WORKLOAD_IDENTITY:
            offering = SystemControlPolicy.objects.filter(offers_workload_identity=True)
            return (
                Q(credential_lifetime__in=KEPT_LIFETIMES)
                & ~Q(kind=AccessPath.Kind.WORKLOAD_IDENTITY)
                & Q(system__in=offering.values("system"))
            )
        case Rule.NHI7_AGENT_STATIC:
            return Q(kind=AccessPath.Kind.AGENT_CREDENTIAL, credential_lifetime__in=KEPT_LIFETIMES)
        case Rule.NHI7_LEASE_OVER_MAX:
            since = now - dt.timedelta(days=policy.lease_overrun_window_days)
            return Q(lease_overrun_at__gte=since)
        case Rule.MISSING_SIGNOFF_POLICY:
            needs_one = (
                Q(kind=AccessPath.Kind.AGENT_CREDENTIAL)
                | Q(created_via=AccessPath.CreatedVia.AI_AGENT)
                | Q(risk_tier__in=SIGNOFF_TIERS)
            )
            has_one = SignoffPolicy.objects.filter(path_id=OuterRef("pk"))
            return owned & needs_one & ~Q(Exists(has_one))
        case Rule.MISSING_PROVENANCE:
            return Q(created_via__in=PROVENANCE_REQUIRED) & provenance_missing_q()
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


def path_rule_states(
    path: AccessPath, *, now: dt.datetime, policy: Policy
) -> tuple[list[PostureRule], frozenset[str]]:
    """The rules one path breaks now, waived or not, and the codes its live exceptions
    waive, from the same predicates as violation_q, in two small queries: the row's
    liveness and the rules' own tests (NHI8/NHI9 as per-path probes), and the rules its
    live exceptions silence. Building live_q and the silencing subquery eleven times
    over, as violation_q per rule would, cost more than the queries. The row is read
    again: a path held in memory may be stale."""
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
        return [], frozenset()
    waived = frozenset(
        PolicyException.objects.filter(
            path_id=path.pk, status=PolicyException.Status.APPROVED, expires_at__gt=now
        ).values_list("rule", flat=True)
    )
    return [rule for rule in RULES if flags[f"breaks_{rule.code}"]], waived


def path_violations(path: AccessPath, *, now: dt.datetime, policy: Policy) -> list[PostureRule]:
    """The rules one path breaks now and no live exception waives (path_rule_states)."""
    broken, waived = path_rule_states(path, now=now, policy=policy)
    return [rule for rule in broken if rule.code not in waived]


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
