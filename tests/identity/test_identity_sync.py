"""Group claims to team memberships at each sign-in, through the audited team services."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured

from registry.models import AuditEvent, ExternalIdentity, Membership, ProviderMembership
from registry.selectors.scim import team_provider_changes
from registry.services.identity_sync import (
    claim_groups,
    grants_for,
    group_rules,
    identity_sign_in,
)

ISSUER = "https://idp.example.com"
RULES = {
    "nhi-payments": ["payments", "member"],
    "nhi-payments-leads": ["payments", "lead"],
    "nhi-security": ["security", "lead"],
    "nhi-ghosts": ["no-such-team", "member"],
}


@pytest.fixture(autouse=True)
def rules(settings):
    settings.NHI_OIDC_GROUP_RULES = RULES
    settings.NHI_OIDC_GROUPS_CLAIM = "groups"


def claims(sub="ada-1", groups=(), **extra):
    return (
        {"sub": sub, "preferred_username": "ada", "email": "ada@example.com"}
        | extra
        | {"groups": list(groups)}
    )


def current(user) -> dict[str, str]:
    return {
        m.team.slug: m.role
        for m in Membership.objects.filter(user=user, ended_at__isnull=True).select_related("team")
    }


def test_a_first_sign_in_creates_the_person_in_their_teams(personas):
    user, result = identity_sign_in(
        issuer=ISSUER, claims=claims(groups=["nhi-payments", "nhi-payments-leads", "other"])
    )
    assert user.username == "ada" and not user.has_usable_password()
    assert current(user) == {"payments": "lead"}  # the highest role wins
    assert result.added == ["payments:lead"]
    assert ExternalIdentity.objects.get(user=user).subject == "ada-1"
    membership = Membership.objects.get(user=user)
    added = AuditEvent.objects.get(action="membership.added", object_id=str(membership.pk))
    assert added.actor_label == f"identity provider {ISSUER}"
    assert AuditEvent.objects.filter(action="identity.linked").exists()


def test_leaving_a_group_ends_the_membership_at_the_next_sign_in(personas):
    user, _ = identity_sign_in(issuer=ISSUER, claims=claims(groups=["nhi-payments-leads"]))
    _, result = identity_sign_in(issuer=ISSUER, claims=claims(groups=["nhi-payments"]))
    assert current(user) == {"payments": "member"} and result.role_changed
    _, result = identity_sign_in(issuer=ISSUER, claims=claims(groups=[]))
    assert current(user) == {} and result.ended == ["payments"]
    ended = AuditEvent.objects.get(action="membership.ended")
    assert ended.reason == f"No group at {ISSUER} grants the payments team any more."
    applied = AuditEvent.objects.filter(action="identity.groups_applied").order_by("seq").last()
    assert applied.changes["ended"] == [None, ["payments"]]
    # The team page's "Changes from the identity provider" lists them.
    shown = [e.action for e in team_provider_changes(personas.teams.payments)]
    assert shown.count("membership.added") == 1 and "membership.ended" in shown


def test_memberships_added_by_hand_stay_until_the_groups_grant_the_team(personas):
    pat = personas.users.pat
    identity_sign_in(
        issuer=ISSUER, claims=claims(sub="pat-1", email="pat@example.com", email_verified=True)
    )
    assert current(pat) == {"payments": "member"}  # linked by verified email, left alone
    identity_sign_in(
        issuer=ISSUER,
        claims=claims(sub="pat-1", groups=["nhi-payments"]),
    )
    membership = Membership.objects.get(user=pat, ended_at__isnull=True)
    assert ProviderMembership.objects.filter(membership=membership).exists()  # adopted
    assert AuditEvent.objects.filter(action="membership.provider_managed").exists()
    identity_sign_in(issuer=ISSUER, claims=claims(sub="pat-1", groups=[]))
    assert current(pat) == {}


def test_an_unverified_email_does_not_take_over_an_account(personas):
    user, _ = identity_sign_in(
        issuer=ISSUER, claims=claims(sub="x", preferred_username="sam", email="sam@example.com")
    )
    assert user != personas.users.sam and user.username.startswith("sam-")
    assert current(personas.users.sam) == {"security": "lead"}


def test_the_same_subject_is_the_same_person(personas):
    first, _ = identity_sign_in(issuer=ISSUER, claims=claims())
    second, _ = identity_sign_in(issuer=ISSUER, claims=claims(preferred_username="renamed"))
    assert first == second and User.objects.filter(username__startswith="ada").count() == 1


def test_an_unknown_team_is_reported_not_created(personas):
    user, result = identity_sign_in(issuer=ISSUER, claims=claims(groups=["nhi-ghosts"]))
    assert result.unknown_teams == ["no-such-team"] and current(user) == {}


def test_an_inactive_person_keeps_their_memberships_and_is_not_synced(personas):
    user, _ = identity_sign_in(issuer=ISSUER, claims=claims(groups=["nhi-payments"]))
    User.objects.filter(pk=user.pk).update(is_active=False)
    identity_sign_in(issuer=ISSUER, claims=claims(groups=["nhi-security"]))
    assert current(user) == {"payments": "member"}


def test_nested_group_claims():
    keycloak = {"realm_access": {"roles": ["nhi-payments", 7]}}
    assert claim_groups(keycloak, "realm_access.roles") == ["nhi-payments"]
    assert claim_groups({"groups": "nhi-security"}, "groups") == ["nhi-security"]
    assert claim_groups({}, "groups") == []


def test_grants_take_the_highest_role():
    grants = grants_for(["nhi-payments-leads", "nhi-payments"], group_rules())
    assert grants["payments"].role == "lead"
    assert grants["payments"].groups == ("nhi-payments", "nhi-payments-leads")


@pytest.mark.parametrize(
    "raw",
    [[], {"g": "payments"}, {"g": ["payments"]}, {"g": ["payments", "owner"]}, {"g": ["", "lead"]}],
)
def test_bad_rules_are_refused_with_the_format(raw):
    with pytest.raises(ImproperlyConfigured, match=r"\[team slug, role\]"):
        group_rules(raw)
