"""Posture rules (registry.rules.posture): each rule is one predicate, so `path_violations`
(the path page) and the inventory's `posture=` filter must agree, path by path.

For every rule a path that breaks it is listed by both and a twin that does not is
listed by neither. An approved, unexpired exception silences exactly its rule on its
path; a pending, rejected or expired one silences nothing. Revoked and expired paths
have no posture at all. Runs on SQLite and PostgreSQL (the NHI5/NHI9 regexes differ
between their engines).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.contrib.auth import get_user_model

from registry import services
from registry.models import AccessPath, Membership, PolicyException, Team
from registry.rules.errors import Invalid
from registry.rules.policies import current_policy
from registry.rules.posture import RECOMMENDED_FIELD_COUNT, RULES, path_violations, record_quality
from registry.selectors import path_list
from registry.selectors.dashboard import quality_expression
from registry.selectors.filters import ANY_VIOLATION
from registry.services._common import source_stated_expiry
from tests.conftest import NOW

pytestmark = pytest.mark.django_db

DAY = dt.timedelta(days=1)
MINUTE = dt.timedelta(minutes=1)
Rule = PolicyException.Rule
ALL_CODES = [rule.code for rule in RULES]
WAIVER_REASON = "The vendor appliance needs it this way until the Q3 platform migration."
DECISION = "Compensating control reviewed in SEC-2211."


# --- helpers ------------------------------------------------------------------------


@pytest.fixture
def make_path(make_path, personas):
    """Paths here are authorised (an approver, an owner for every control point) unless a
    test says otherwise, so `missing_authority` is one rule among the others."""

    def make(**overrides) -> AccessPath:
        overrides.setdefault("approved_by", "sam")
        overrides.setdefault("approved_by_team", personas.teams.security)
        overrides.setdefault("steward_team", personas.teams.platform)
        for field in ("iam_team", "pam_team", "secops_team"):
            overrides.setdefault(field, personas.teams.security)
        return make_path(**overrides)

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
    tests/test_control_points.py)."""
    return Breakers([make_path(secops_team=None) for _ in range(2)], NOW)


BUILDERS: dict[str, Callable] = {
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
}


def test_every_rule_has_a_builder_and_an_exception_kind():
    assert set(BUILDERS) == set(ALL_CODES)
    assert set(ALL_CODES) == set(Rule.values)


def test_a_fresh_path_breaks_nothing(personas, path, unowned_path):
    assert clean(personas, path)
    assert clean(personas, unowned_path)
    for code in ALL_CODES:
        assert filtered(personas, code) == set()


@pytest.mark.parametrize("code", ALL_CODES)
def test_a_breaking_path_is_listed_by_page_and_filter(personas, make_path, code):
    bystander = make_path(name="bystander")
    built = BUILDERS[code](personas, make_path)
    for path in built.paths:
        assert violations(path, built.at) == {code} | built.also
    assert filtered(personas, code, built.at) == {p.pk for p in built.paths}
    assert not breaks(personas, bystander, code, built.at)
    assert filtered(personas, ANY_VIOLATION, built.at) == {p.pk for p in built.paths}


# --- NHI1 improper offboarding ------------------------------------------------------


def test_nhi1_deactivated_owner_team(personas, make_path):
    team = legacy_team(personas)
    orphaned = make_path(owner_team=team)
    twin = make_path(owner_team=personas.teams.data)
    unowned = make_path(owner_team=None, steward_team=team, ticket_url="", justification="")
    services.team_deactivate(actor=personas.system, team=team, reason="Team dissolved.", now=NOW)
    assert breaks(personas, orphaned, Rule.NHI1_OFFBOARDING)
    assert not breaks(personas, twin, Rule.NHI1_OFFBOARDING)
    assert not breaks(personas, unowned, Rule.NHI1_OFFBOARDING)  # a steward owns nothing
    services.team_reactivate(actor=personas.system, team=team, reason="Reorg undone.", now=NOW)
    assert clean(personas, orphaned)


def test_nhi1_all_members_ended(personas, make_path):
    data_path = make_path(owner_team=personas.teams.data)
    payments_path = make_path()
    dana = Membership.objects.get(team=personas.teams.data, user=personas.users.dana)
    services.membership_end(actor=personas.system, membership=dana, reason="Left.", now=NOW)
    assert breaks(personas, data_path, Rule.NHI1_OFFBOARDING)
    assert not breaks(personas, payments_path, Rule.NHI1_OFFBOARDING)
    # One member who left of two is not offboarding.
    pat = Membership.objects.get(team=personas.teams.payments, user=personas.users.pat)
    services.membership_end(actor=personas.system, membership=pat, reason="Moved.", now=NOW)
    assert not breaks(personas, payments_path, Rule.NHI1_OFFBOARDING)


# --- NHI5 overprivileged (regex: same answers on SQLite and PostgreSQL) ----------------


@pytest.mark.parametrize(
    ("scope", "overprivileged"),
    [
        ("AdministratorAccess", True),
        ("*", True),
        ("s3:*", True),
        ("s3:GetObject, *", True),
        ("roles/owner", True),
        ("root", True),
        ("repo:all", True),
        ("s3:GetObject on bucket/*", False),
        ("read-only", False),
        ("ownership-report:read", False),
        ("chroot-jail", False),
        ("", False),
    ],
)
def test_nhi5_privilege_scope(personas, make_path, scope, overprivileged):
    path = make_path(privilege_scope=scope)
    assert breaks(personas, path, Rule.NHI5_OVERPRIVILEGED) is overprivileged
    assert violations(path) == ({Rule.NHI5_OVERPRIVILEGED} if overprivileged else set())


def test_nhi5_follows_an_edit_of_the_scope(personas, make_path):
    path = make_path(privilege_scope="s3:*")
    assert breaks(personas, path, Rule.NHI5_OVERPRIVILEGED)
    services.path_update(
        actor=personas.pat,
        path=path,
        changes={"privilege_scope": "s3:GetObject on bucket/*"},
        now=NOW + MINUTE,
    )
    assert clean(personas, path, NOW + MINUTE)


# --- no expiry (NHI7) -----------------------------------------------------------------


def test_no_expiry_is_waived_while_the_waiver_lives_then_listed(personas, make_path):
    twin = make_path(name="with-expiry")
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
    assert path.expires_at is None
    assert path.expiry_waiver_id == waiver.pk

    # While the waiver lives, no violation; at the instant it ends, listed.
    assert not breaks(personas, path, Rule.NO_EXPIRY, NOW + DAY)
    assert not breaks(personas, path, Rule.NO_EXPIRY, NOW + 30 * DAY - MINUTE)
    assert breaks(personas, path, Rule.NO_EXPIRY, NOW + 30 * DAY)
    assert violations(path, NOW + 31 * DAY) == {Rule.NO_EXPIRY}
    assert not breaks(personas, twin, Rule.NO_EXPIRY, NOW + 31 * DAY)


def test_no_expiry_needs_ownership(personas, unowned_path):
    assert unowned_path.expires_at is None
    assert not breaks(personas, unowned_path, Rule.NO_EXPIRY)


# --- NHI7 long-lived secret past rotation ----------------------------------------------


def test_nhi7_static_credential_past_rotation(personas, make_path):
    overdue = make_path(
        credential_lifetime="static", rotation_days=30, last_rotated_at=NOW - 40 * DAY
    )
    ephemeral = make_path(
        credential_lifetime="ephemeral", rotation_days=30, last_rotated_at=NOW - 40 * DAY
    )
    assert overdue.rotation_due_at == NOW - 10 * DAY
    assert ephemeral.rotation_due_at is None
    assert breaks(personas, overdue, Rule.NHI7_LONG_LIVED)
    assert not breaks(personas, ephemeral, Rule.NHI7_LONG_LIVED)

    rotated = services.path_update(
        actor=personas.pat, path=overdue, changes={"last_rotated_at": NOW}, now=NOW
    )
    assert rotated.rotation_due_at == NOW + 30 * DAY
    assert AccessPath.objects.get(pk=overdue.pk).rotation_due_at == NOW + 30 * DAY
    assert not breaks(personas, rotated, Rule.NHI7_LONG_LIVED)
    # Due again the instant the new rotation date arrives.
    assert not breaks(personas, rotated, Rule.NHI7_LONG_LIVED, NOW + 30 * DAY - MINUTE)
    assert breaks(personas, rotated, Rule.NHI7_LONG_LIVED, NOW + 30 * DAY)


def test_nhi7_an_expiry_beyond_the_policy_cap(personas, make_path):
    """A person cannot set one, but a discovery import records what the source states
    (services.paths.source_stated_expiry): posture flags it as long-lived."""
    cap = current_policy().max_expiry_days * DAY
    path = make_path(credential_lifetime="long_lived")
    with pytest.raises(Invalid):
        services.path_update(
            actor=personas.pat, path=path, changes={"expires_at": NOW + cap + DAY}, now=NOW
        )
    with source_stated_expiry():  # an import (security runs them) records the source's word
        far = services.path_update(
            actor=personas.sam, path=path, changes={"expires_at": NOW + cap + DAY}, now=NOW
        )
    assert far.expires_at == NOW + cap + DAY
    assert breaks(personas, far, Rule.NHI7_LONG_LIVED)
    # Judged against the policy at each moment: within the cap a day later.
    assert not breaks(personas, far, Rule.NHI7_LONG_LIVED, NOW + DAY)
    within = services.path_update(
        actor=personas.pat, path=far, changes={"expires_at": NOW + cap}, now=NOW
    )
    assert not breaks(personas, within, Rule.NHI7_LONG_LIVED)


def test_nhi7_default_rotation_from_creation_and_lifetime_edits(personas, make_path):
    policy = current_policy()
    created = NOW - (policy.default_rotation_days + 20) * DAY
    # Registered long ago without an expiry in the way: a low-risk path lives 365 days.
    old = make_path(credential_lifetime="long_lived", risk_tier="low", now=created)
    short = make_path(credential_lifetime="short_lived", risk_tier="low", now=created)
    assert old.rotation_due_at == created + policy.default_rotation_days * DAY
    assert breaks(personas, old, Rule.NHI7_LONG_LIVED)
    assert not breaks(personas, short, Rule.NHI7_LONG_LIVED)

    services.path_update(
        actor=personas.pat, path=old, changes={"credential_lifetime": "ephemeral"}, now=NOW
    )
    assert AccessPath.objects.get(pk=old.pk).rotation_due_at is None
    assert not breaks(personas, old, Rule.NHI7_LONG_LIVED)
    services.path_update(
        actor=personas.pat, path=old, changes={"credential_lifetime": "static"}, now=NOW
    )
    assert breaks(personas, old, Rule.NHI7_LONG_LIVED)
    services.path_update(actor=personas.pat, path=old, changes={"rotation_days": 365}, now=NOW)
    assert AccessPath.objects.get(pk=old.pk).rotation_due_at == created + 365 * DAY
    assert not breaks(personas, old, Rule.NHI7_LONG_LIVED)


# --- NHI8 environment isolation, NHI9 reuse ------------------------------------------


def test_nhi8_same_external_id_in_two_environments(personas, make_path):
    prod = make_path(system="aws", external_id="svc-shared", environment="prod")
    staging = make_path(system="gcp", external_id="svc-shared", environment="staging")
    same_env_a = make_path(system="aws", external_id="svc-same-env", environment="prod")
    same_env_b = make_path(system="gcp", external_id="svc-same-env", environment="prod")
    alone = make_path(system="aws", external_id="svc-alone", environment="prod")
    no_id_a = make_path(system="aws", external_id="", environment="prod")
    no_id_b = make_path(system="gcp", external_id="", environment="dev")
    assert breaks(personas, prod, Rule.NHI8_ENV_ISOLATION)
    assert breaks(personas, staging, Rule.NHI8_ENV_ISOLATION)
    for twin in (same_env_a, same_env_b, alone, no_id_a, no_id_b):
        assert not breaks(personas, twin, Rule.NHI8_ENV_ISOLATION)
    # Same id in two systems is reuse (NHI9) whatever the environments.
    for reused in (prod, staging, same_env_a, same_env_b):
        assert breaks(personas, reused, Rule.NHI9_REUSE)
    for twin in (alone, no_id_a, no_id_b):
        assert not breaks(personas, twin, Rule.NHI9_REUSE)


def test_a_revoked_twin_no_longer_shares_its_external_id(personas, make_path):
    """Only live paths share an identity: once the twin is revoked, reuse and environment
    isolation no longer apply to the survivor."""
    live = make_path(system="aws", external_id="svc-retired-twin", environment="prod")
    twin = make_path(system="gcp", external_id="svc-retired-twin", environment="staging")
    assert breaks(personas, live, Rule.NHI8_ENV_ISOLATION)
    assert breaks(personas, live, Rule.NHI9_REUSE)
    services.path_revoke(
        actor=personas.lee, path=twin, reason="Replaced by workload identity.", now=NOW
    )
    assert not breaks(personas, live, Rule.NHI8_ENV_ISOLATION)
    assert not breaks(personas, live, Rule.NHI9_REUSE)


@pytest.mark.parametrize(
    ("consumers", "reused"),
    [
        ("a job, b job", True),
        ("billing-export;ledger-sync", True),
        ("billing-export\nledger-sync", True),
        ("a job", False),
        ("billing-export,", False),  # a trailing separator lists one consumer
        ("", False),
    ],
)
def test_nhi9_several_consumers(personas, make_path, consumers, reused):
    path = make_path(consumers=consumers)
    assert breaks(personas, path, Rule.NHI9_REUSE) is reused


# --- NHI10 human use ------------------------------------------------------------------


def test_nhi10_latest_attestation_decides(personas, make_path):
    human = make_path()
    kept = make_path()
    attest(personas.pat, human, human_use=True, now=NOW + DAY)
    attest(personas.pat, kept, human_use=False, now=NOW + DAY)
    assert breaks(personas, human, Rule.NHI10_HUMAN_USE, NOW + DAY)
    assert not breaks(personas, kept, Rule.NHI10_HUMAN_USE, NOW + DAY)
    # A later attestation saying nobody uses it any more clears it ...
    attest(personas.pat, human, human_use=False, now=NOW + 2 * DAY)
    assert not breaks(personas, human, Rule.NHI10_HUMAN_USE, NOW + 2 * DAY)
    # ... and a later one saying somebody does flags the other.
    attest(personas.pat, kept, human_use=True, now=NOW + 3 * DAY)
    assert breaks(personas, kept, Rule.NHI10_HUMAN_USE, NOW + 3 * DAY)


# --- hygiene: legacy rows that bypassed validation -------------------------------------


def test_missing_ticket_only_for_owned_paths(personas, make_path, unowned_path):
    path = make_path()
    twin = make_path()
    AccessPath.objects.filter(pk=path.pk).update(ticket_url="")
    assert unowned_path.ticket_url == ""
    assert breaks(personas, path, Rule.MISSING_TICKET)
    assert not breaks(personas, twin, Rule.MISSING_TICKET)
    assert not breaks(personas, unowned_path, Rule.MISSING_TICKET)


def test_weak_justification_threshold(personas, make_path, unowned_path):
    minimum = current_policy().justification_min_length
    short = make_path()
    enough = make_path()
    AccessPath.objects.filter(pk=short.pk).update(justification="x" * (minimum - 1))
    AccessPath.objects.filter(pk=enough.pk).update(justification="x" * minimum)
    assert breaks(personas, short, Rule.WEAK_JUSTIFICATION)
    assert not breaks(personas, enough, Rule.WEAK_JUSTIFICATION)
    assert not breaks(personas, unowned_path, Rule.WEAK_JUSTIFICATION)  # owned only


def test_stale_record_after_policy_days(personas, make_path):
    days = current_policy().stale_after_days
    stale = make_path(last_used_at=NOW - (days + 1) * DAY)
    at_line = make_path(last_used_at=NOW - days * DAY)
    recent = make_path(last_used_at=NOW - (days - 1) * DAY)
    never = make_path()
    assert breaks(personas, stale, Rule.STALE_RECORD)
    for twin in (at_line, recent, never):
        assert not breaks(personas, twin, Rule.STALE_RECORD)
    assert breaks(personas, at_line, Rule.STALE_RECORD, NOW + MINUTE)


def test_stale_rule_follows_the_policy_setting(settings, personas, make_path):
    path = make_path(last_used_at=NOW - 40 * DAY)
    assert not breaks(personas, path, Rule.STALE_RECORD)
    settings.NHI_POLICY = {"stale_after_days": 30}
    assert breaks(personas, path, Rule.STALE_RECORD)


# --- revoked and expired paths ------------------------------------------------------


def _breaks_everything(make_path, **overrides) -> AccessPath:
    path = make_path(
        privilege_scope="*",
        consumers="a job, b job",
        credential_lifetime="static",
        rotation_days=30,
        last_rotated_at=NOW - 60 * DAY,
        last_used_at=NOW - 200 * DAY,
        **overrides,
    )
    AccessPath.objects.filter(pk=path.pk).update(ticket_url="", justification="Legacy.")
    return AccessPath.objects.get(pk=path.pk)


def test_revoked_and_expired_paths_have_no_violations(personas, make_path):
    many = {
        Rule.NHI5_OVERPRIVILEGED,
        Rule.NHI9_REUSE,
        Rule.NHI7_LONG_LIVED,
        Rule.STALE_RECORD,
        Rule.MISSING_TICKET,
        Rule.WEAK_JUSTIFICATION,
    }
    revoked = _breaks_everything(make_path)
    expiring = _breaks_everything(make_path, expires_at=NOW + DAY)
    stored_expired = _breaks_everything(make_path, expires_at=NOW + DAY)
    for path in (revoked, expiring, stored_expired):
        assert violations(path) == many

    services.path_revoke(
        actor=personas.pat, path=revoked, reason="Replaced by workload identity.", now=NOW
    )
    services.path_expire(actor=personas.system, path=stored_expired, now=NOW + DAY)
    later = NOW + DAY  # `expiring` is past its expiry but no sweep has marked it
    for path in (revoked, expiring, stored_expired):
        assert clean(personas, path, later)
    for code in ALL_CODES:
        assert filtered(personas, code, later) == set()


# --- policy exceptions ----------------------------------------------------------------


@pytest.mark.parametrize("code", ALL_CODES)
def test_an_approved_exception_silences_exactly_its_rule_until_it_expires(
    personas, sid, make_path, code
):
    built = BUILDERS[code](personas, make_path)
    waived, other = built.paths
    # A second rule on the waived path, which the exception must leave alone.
    second = Rule.STALE_RECORD if code == Rule.NHI5_OVERPRIVILEGED else Rule.NHI5_OVERPRIVILEGED
    if second == Rule.NHI5_OVERPRIVILEGED:
        # A legacy row written behind the services' back carries its derived fact too.
        AccessPath.objects.filter(pk=waived.pk).update(privilege_scope="*", broad_scope=True)
    else:
        AccessPath.objects.filter(pk=waived.pk).update(last_used_at=NOW - 200 * DAY)
    at = built.at
    before = violations(waived, at)
    assert before == {code, second} | built.also

    exception = waive(personas, sid, waived, code, at=at)
    assert exception.status == PolicyException.Status.APPROVED

    assert violations(waived, at) == before - {code}
    assert waived.pk not in filtered(personas, code, at)
    assert waived.pk in filtered(personas, second, at)
    assert waived.pk in filtered(personas, ANY_VIOLATION, at)
    # The same rule on another path is not waived.
    assert breaks(personas, other, code, at)

    # Still silenced a minute before the exception ends; listed again from its end on.
    ends = exception.expires_at
    assert not breaks(personas, waived, code, ends - MINUTE)
    assert breaks(personas, waived, code, ends)
    assert violations(waived, ends + DAY) == before


def test_pending_and_rejected_exceptions_silence_nothing(personas, sid, make_path):
    path = make_path(privilege_scope="s3:*")
    pending = services.exception_request(
        actor=personas.sam,
        path=path,
        rule=Rule.NHI5_OVERPRIVILEGED,
        reason=WAIVER_REASON,
        expires_at=NOW + 30 * DAY,
        now=NOW,
    )
    assert breaks(personas, path, Rule.NHI5_OVERPRIVILEGED)
    services.exception_reject(actor=sid, exception=pending, reason="Narrow the scope.", now=NOW)
    assert breaks(personas, path, Rule.NHI5_OVERPRIVILEGED)


def test_an_exception_for_another_rule_silences_nothing(personas, sid, make_path):
    path = make_path(privilege_scope="s3:*")
    waive(personas, sid, path, Rule.STALE_RECORD, at=NOW)
    assert violations(path) == {Rule.NHI5_OVERPRIVILEGED}


# --- the filter and the page agree across an estate ----------------------------------


def test_posture_filter_equals_path_violations_over_an_estate(personas, make_path):
    estate = []
    for code, build in BUILDERS.items():
        if code == Rule.NO_EXPIRY:
            continue  # it breaks a month later than the others; covered above
        estate += build(personas, make_path).paths
    estate += [make_path(name=f"clean-{i}") for i in range(3)]
    estate.append(make_path(owner_team=None, justification="", ticket_url=""))
    at = NOW + DAY
    by_page = {path.pk: violations(path, at) for path in estate}
    for code in ALL_CODES:
        expected = {pk for pk, codes in by_page.items() if code in codes}
        assert filtered(personas, code, at) == expected, code
    assert filtered(personas, ANY_VIOLATION, at) == {pk for pk, codes in by_page.items() if codes}


# --- record quality -------------------------------------------------------------------


def test_record_quality_in_python_equals_the_sql_expression(personas, make_path, unowned_path):
    full = make_path(
        artifact_ref="github.com/acme/billing/infra/iam.tf",
        consumers="billing-export",
        privilege_scope="s3:GetObject on bucket/*",
        data_classification="confidential",
        revocation_plan="Delete the IAM user; the job fails closed.",
        created_by_ref="terraform run 4411",
        last_used_at=NOW - DAY,
        steward_team=personas.teams.platform,
    )
    partial = make_path(consumers="billing-export", privilege_scope="read-only", steward_team=None)
    minimal = make_path(steward_team=None)
    paths = [full, partial, minimal, unowned_path]
    filled = dict(
        AccessPath.objects.annotate(filled=quality_expression()).values_list("pk", "filled")
    )
    for path in paths:
        path.refresh_from_db()
        assert round(100 * filled[path.pk] / RECOMMENDED_FIELD_COUNT) == record_quality(path)
    assert record_quality(full) == 100
    # Default registration: ticket, justification and the default expiry.
    assert record_quality(minimal) == round(100 * 3 / RECOMMENDED_FIELD_COUNT)
    # Unowned, no expiry, no ticket, no justification: only its steward.
    assert record_quality(unowned_path) == round(100 * 1 / RECOMMENDED_FIELD_COUNT)
    assert record_quality(partial) == round(100 * 5 / RECOMMENDED_FIELD_COUNT)
