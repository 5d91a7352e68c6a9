"""Helpers shared by the posture tests (tests/rules/posture/): authorised paths,
what the path page and the inventory filter say about a path, and one builder per rule
of two paths that break it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction

from registry import services
from registry.models import (
    AccessPath,
    Incident,
    PolicyException,
    SignoffPolicy,
    SystemControlPolicy,
    Team,
)
from registry.rules.policies import current_policy
from registry.rules.posture import RULES, path_violations
from registry.selectors import path_list
from registry.selectors.filters import ANY_VIOLATION
from registry.services._common import importing
from tests.conftest import NOW

DAY = dt.timedelta(days=1)
MINUTE = dt.timedelta(minutes=1)
Rule = PolicyException.Rule
ALL_CODES = [rule.code for rule in RULES]
WAIVER_REASON = "The vendor appliance needs it this way until the Q3 platform migration."
DECISION = "Compensating control reviewed in SEC-2211."


def give_signoff_policy(path: AccessPath, now: dt.datetime = NOW) -> AccessPath:
    """A sign-off policy for `path`, written as a legacy row would be (the service's own
    tests are in tests/services/test_signoff.py), its facts refreshed."""
    with transaction.atomic():
        SignoffPolicy.objects.create(
            path=path,
            actions=["deploy"],
            rollback_path="Re-deploy the previous release; revoke the agent's lease.",
            created_at=now,
            updated_at=now,
            updated_by_label="tests",
        )
        services.tallies.refresh_facts([path.pk], now=now)
    return path


def authorised(make_path, personas) -> Callable[..., AccessPath]:
    """Paths here are authorised (an approver, an owner for every control point, and a
    sign-off policy for the high and critical ones) unless a test says otherwise, so
    `missing_authority` and `missing_signoff_policy` are rules among the others."""

    def make(*, signoff: bool = True, **overrides) -> AccessPath:
        overrides.setdefault("approved_by", "sam")
        overrides.setdefault("approved_by_team", personas.teams.security)
        overrides.setdefault("steward_team", personas.teams.platform)
        for field in ("iam_team", "pam_team", "secops_team"):
            overrides.setdefault(field, personas.teams.security)
        path = make_path(**overrides)
        if signoff and path.owner_team_id:
            give_signoff_policy(path)
        return path

    return make


def violations(path: AccessPath, now: dt.datetime = NOW) -> set[str]:
    return {rule.code for rule in path_violations(path, now=now, policy=current_policy())}


def filtered(personas, posture: str, now: dt.datetime = NOW) -> set:
    """The ids the inventory lists for ?posture=<posture> (security sees everything)."""
    qs = path_list(actor=personas.sam, filters={"posture": posture}, now=now)
    return set(qs.values_list("pk", flat=True))


def breaks(personas, path: AccessPath, code: str, now: dt.datetime = NOW) -> bool:
    """Whether `path` breaks `code` at `now`; the path page and the filter must agree."""
    by_page = code in violations(path, now)
    by_filter = path.pk in filtered(personas, code, now)
    assert by_page == by_filter, (
        f"{code}: path_violations says {by_page}, the posture filter says {by_filter}"
    )
    return by_page


def clean(personas, path: AccessPath, now: dt.datetime = NOW) -> bool:
    """No rule at all, by the page and by ?posture=any."""
    by_page = violations(path, now)
    by_filter = path.pk in filtered(personas, ANY_VIOLATION, now)
    assert bool(by_page) == by_filter, f"path_violations {by_page}, posture=any {by_filter}"
    return not by_page


def legacy_team(personas) -> Team:
    """A team of its own, with one member, for the NHI1 cases (so deactivating it
    touches no other test path)."""
    team = services.team_create(
        actor=personas.system,
        data={"slug": "legacy", "name": "Legacy", "email": "legacy@example.com"},
        now=NOW - DAY,
    )
    user = get_user_model().objects.create_user("lou", "lou@example.com", "x")
    services.membership_add(actor=personas.system, team=team, user=user, now=NOW - DAY)
    return team


def attest(actor, path, *, human_use: bool, now: dt.datetime):
    return services.path_attest(
        actor=actor,
        path=path,
        decision="reduce_scope" if human_use else "keep",
        still_needed=True,
        justification_accurate=True,
        least_privilege=not human_use,
        no_human_use=not human_use,
        note="Dropping write access; an engineer still signs in with it." if human_use else "",
        now=now,
    )


def waive(personas, sid, path, rule: str, *, at: dt.datetime, days: int = 30) -> PolicyException:
    """sam asks, sid (another security reviewer) approves."""
    exception = services.exception_request(
        actor=personas.sam,
        path=path,
        rule=rule,
        reason=WAIVER_REASON,
        expires_at=at + days * DAY,
        now=at,
    )
    return services.exception_approve(actor=sid, exception=exception, reason=DECISION, now=at)


# --- one builder per rule: two paths that break it, and the moment they do -----------


@dataclass
class Breakers:
    paths: list[AccessPath]
    at: dt.datetime
    # Other rules these paths break by construction (NHI8's pair is also NHI9 reuse).
    also: frozenset[str] = frozenset()


def _offboarded(personas, make_path) -> Breakers:
    team = legacy_team(personas)
    paths = [make_path(owner_team=team, name=f"legacy-{i}") for i in range(2)]
    services.team_deactivate(actor=personas.system, team=team, reason="Team dissolved.", now=NOW)
    return Breakers(paths, NOW)


def _overprivileged(personas, make_path) -> Breakers:
    return Breakers([make_path(privilege_scope="AdministratorAccess") for _ in range(2)], NOW)


def _no_expiry(personas, make_path) -> Breakers:
    """The only legitimate way to an owned path without expiry: an approved no-expiry
    waiver, the expiry removed, then the waiver running out."""
    paths = []
    for _ in range(2):
        path = make_path()
        waiver = services.exception_request(
            actor=personas.pat,
            path=path,
            rule=Rule.NO_EXPIRY,
            reason=WAIVER_REASON,
            expires_at=NOW + 30 * DAY,
            now=NOW,
        )
        services.exception_approve(actor=personas.sam, exception=waiver, now=NOW)
        path = services.path_update(
            actor=personas.pat, path=path, changes={"expires_at": None}, now=NOW + DAY
        )
        assert path.expires_at is None and path.expiry_waiver_id == waiver.pk
        paths.append(path)
    return Breakers(paths, NOW + 30 * DAY + MINUTE)


def _long_lived(personas, make_path) -> Breakers:
    paths = [
        make_path(credential_lifetime="static", rotation_days=30, last_rotated_at=NOW - 40 * DAY)
        for _ in range(2)
    ]
    return Breakers(paths, NOW)


def _environments(personas, make_path) -> Breakers:
    paths = [
        make_path(system="aws", external_id="svc-shared", environment="prod"),
        make_path(system="gcp", external_id="svc-shared", environment="staging"),
    ]
    return Breakers(paths, NOW, frozenset({Rule.NHI9_REUSE}))


def _reused(personas, make_path) -> Breakers:
    return Breakers([make_path(consumers="a job, b job") for _ in range(2)], NOW)


def _human_use(personas, make_path) -> Breakers:
    paths = [make_path() for _ in range(2)]
    for path in paths:
        attest(personas.pat, path, human_use=True, now=NOW + DAY)
    return Breakers(paths, NOW + DAY)


def _legacy_row(**values) -> Callable:
    """Data that bypassed validation (an import of legacy rows)."""

    def build(personas, make_path) -> Breakers:
        paths = [make_path() for _ in range(2)]
        AccessPath.objects.filter(pk__in=[p.pk for p in paths]).update(**values)
        return Breakers([AccessPath.objects.get(pk=p.pk) for p in paths], NOW)

    return build


def _stale(personas, make_path) -> Breakers:
    return Breakers([make_path(last_used_at=NOW - 120 * DAY) for _ in range(2)], NOW)


def _unauthorised(personas, make_path) -> Breakers:
    """No security-monitoring owner, and no default for the system (more cases:
    tests/rules/test_control_points.py)."""
    return Breakers([make_path(secops_team=None) for _ in range(2)], NOW)


def _leaked(personas, make_path) -> Breakers:
    """An open leak incident on one; a refused paste of its credential on the other."""
    opened, pasted = make_path(), make_path()
    Incident.objects.create(
        path=opened,
        detection=Incident.Detection.MANUAL,
        detected_at=NOW,
        reported_by_label="sam",
        created_at=NOW,
        updated_at=NOW,
    )
    AccessPath.objects.filter(pk=pasted.pk).update(secret_refused_at=NOW - DAY)
    return Breakers([opened, AccessPath.objects.get(pk=pasted.pk)], NOW)


def _static_where_workload_identity(personas, make_path) -> Breakers:
    SystemControlPolicy.objects.create(
        system="gcp", offers_workload_identity=True, created_at=NOW, updated_at=NOW
    )
    paths = [
        make_path(system="gcp", credential_lifetime="static", last_rotated_at=NOW - DAY)
        for _ in range(2)
    ]
    return Breakers(paths, NOW)


def _no_signoff_policy(personas, make_path) -> Breakers:
    return Breakers([make_path(risk_tier="critical", signoff=False) for _ in range(2)], NOW)


def _no_provenance(personas, make_path) -> Breakers:
    """Pipeline-made access an import recorded without its change (imports are not
    refused: tests/services/test_provenance.py)."""
    with importing():
        paths = [
            make_path(created_via="pipeline", risk_tier="medium", change_url="", merged_by="")
            for _ in range(2)
        ]
    return Breakers(paths, NOW)


BUILDERS: dict[str, Callable] = {
    Rule.NHI2_SECRET_LEAKAGE: _leaked,
    Rule.NHI4_INSECURE_AUTH: lambda personas, make_path: Breakers(
        _legacy_row(interactive_login=True, mfa_active=False)(personas, make_path).paths,
        NOW,
        frozenset({Rule.NHI10_HUMAN_USE}),
    ),
    Rule.NHI6_WORKLOAD_IDENTITY: _static_where_workload_identity,
    Rule.NHI7_AGENT_STATIC: _legacy_row(
        kind="agent_credential", credential_lifetime="static", rotation_due_at=NOW + 90 * DAY
    ),
    Rule.NHI7_LEASE_OVER_MAX: _legacy_row(
        issuer_kind="vault_role", max_lease_seconds=900, lease_overrun_at=NOW - DAY
    ),
    Rule.MISSING_SIGNOFF_POLICY: _no_signoff_policy,
    Rule.NHI1_OFFBOARDING: _offboarded,
    Rule.NHI5_OVERPRIVILEGED: _overprivileged,
    Rule.NO_EXPIRY: _no_expiry,
    Rule.NHI7_LONG_LIVED: _long_lived,
    Rule.NHI8_ENV_ISOLATION: _environments,
    Rule.NHI9_REUSE: _reused,
    Rule.NHI10_HUMAN_USE: _human_use,
    Rule.MISSING_TICKET: _legacy_row(ticket_url=""),
    Rule.WEAK_JUSTIFICATION: _legacy_row(justification="Legacy import."),
    Rule.STALE_RECORD: _stale,
    Rule.MISSING_AUTHORITY: _unauthorised,
    Rule.MISSING_PROVENANCE: _no_provenance,
}
