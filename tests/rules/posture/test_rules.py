"""Posture rules (registry.rules.posture): each rule is one predicate, so `path_violations`
(the path page) and the inventory's `posture=` filter must agree, path by path.

For every rule a path that breaks it is listed by both and a twin that does not is
listed by neither. Runs on SQLite and PostgreSQL (the NHI5/NHI9 regexes differ between
their engines). Exceptions, ended paths and whole estates: test_posture_exceptions.py."""

from __future__ import annotations

import pytest

from registry import services
from registry.models import AccessPath, Membership
from registry.rules.errors import Invalid
from registry.rules.policies import current_policy
from registry.selectors.filters import ANY_VIOLATION
from registry.services._common import source_stated_expiry
from tests.conftest import NOW
from tests.rules.posture.helpers import (
    ALL_CODES,
    BUILDERS,
    DAY,
    MINUTE,
    WAIVER_REASON,
    Rule,
    attest,
    breaks,
    clean,
    filtered,
    legacy_team,
    violations,
)

pytestmark = pytest.mark.django_db


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
