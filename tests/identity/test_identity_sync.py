"""Group claims to team memberships at each sign-in, through the audited team services."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured

from registry.models import (
    AuditEvent,
    ExternalIdentity,
    Membership,
    ProviderMembership,
    ScimUser,
)
from registry.selectors.scim import team_provider_changes
from registry.services import identity_sync
from registry.services.identity_sync import (
    GROUPS_UNAVAILABLE,
    SUBJECT_TOO_LONG,
    SignInRefused,
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
    assert claim_groups({"groups": []}, "groups") == []
    assert claim_groups({}, "groups") is None
    overage = {"_claim_names": {"groups": "src1"}, "_claim_sources": {"src1": {}}}
    assert claim_groups(overage, "groups") is None
    assert claim_groups({"hasgroups": True}, "groups") is None


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


def without_groups(**extra):
    body = claims(**extra)
    del body["groups"]
    return body


@pytest.mark.parametrize(
    "missing",
    [
        {},  # the claim is absent
        {"_claim_names": {"groups": "src1"}, "_claim_sources": {"src1": {"endpoint": "x"}}},
        {"hasgroups": True},  # Entra ID's implicit-flow overage marker
    ],
)
def test_no_groups_claim_leaves_memberships_as_they_are(personas, missing):
    user, _ = identity_sign_in(issuer=ISSUER, claims=claims(groups=["nhi-payments-leads"]))
    _, result = identity_sign_in(issuer=ISSUER, claims=without_groups(**missing))
    assert result.groups_unavailable and not result.changed
    assert current(user) == {"payments": "lead"}
    assert not AuditEvent.objects.filter(action="membership.ended").exists()
    note = AuditEvent.objects.filter(action="identity.groups_applied").order_by("seq").last()
    assert note.reason == GROUPS_UNAVAILABLE.format(claim="groups")
    assert note.changes["groups"] == [None, None]


def test_an_empty_groups_claim_is_no_groups(personas):
    user, _ = identity_sign_in(issuer=ISSUER, claims=claims(groups=["nhi-payments"]))
    _, result = identity_sign_in(issuer=ISSUER, claims=claims(groups=[]))
    assert not result.groups_unavailable and result.ended == ["payments"]
    assert current(user) == {}


def test_a_verified_email_never_links_to_staff_or_a_superuser(personas):
    sam = personas.users.sam
    assert sam.email
    for flags in ({"is_staff": True}, {"is_superuser": True}):
        User.objects.filter(pk=sam.pk).update(
            **({"is_staff": False, "is_superuser": False} | flags)
        )
        sub = f"attacker-{next(iter(flags))}"
        user, _ = identity_sign_in(
            issuer=ISSUER,
            claims=claims(sub=sub, email=sam.email, email_verified=True, preferred_username=sub),
        )
        assert user != sam and not ExternalIdentity.objects.filter(user=sam).exists()


def test_a_verified_email_never_links_to_an_account_another_subject_uses(personas):
    pat = personas.users.pat
    assert pat.email
    first, _ = identity_sign_in(
        issuer=ISSUER, claims=claims(sub="pat-1", email=pat.email, email_verified=True)
    )
    second, _ = identity_sign_in(
        issuer=ISSUER, claims=claims(sub="pat-2", email=pat.email, email_verified=True)
    )
    assert first == pat and second != pat


def scim_provisioned(username: str, email: str = "") -> User:
    user = User.objects.create_user(username=username, email=email)
    ScimUser.objects.create(user=user, external_id=f"oid-{username}", updated_at=user.date_joined)
    return user


@pytest.mark.parametrize("claim", ["preferred_username", "email"])
def test_entra_sign_in_links_to_the_account_scim_provisioned(personas, claim):
    # Entra ID sends no email_verified; SCIM's userName is the same UPN.
    provisioned = scim_provisioned("Ada.Lovelace@contoso.com")
    token = {"preferred_username": "someone-else", "email": "other@contoso.com"}
    token[claim] = "ada.lovelace@CONTOSO.com"
    user, _ = identity_sign_in(issuer=ISSUER, claims=claims(sub="entra-oid-1", **token))
    assert user == provisioned
    assert User.objects.filter(username__istartswith="ada.lovelace").count() == 1


def test_a_scim_account_already_linked_or_privileged_is_not_taken(personas):
    linked = scim_provisioned("ada@contoso.com")
    identity_sign_in(issuer=ISSUER, claims=claims(sub="first", preferred_username=linked.username))
    other, _ = identity_sign_in(
        issuer=ISSUER, claims=claims(sub="second", preferred_username=linked.username)
    )
    assert other != linked
    admin = scim_provisioned("root@contoso.com")
    User.objects.filter(pk=admin.pk).update(is_superuser=True)
    user, _ = identity_sign_in(
        issuer=ISSUER, claims=claims(sub="third", preferred_username="root@contoso.com")
    )
    assert user != admin


def test_a_plain_account_is_not_linked_by_user_name_alone(personas):
    # Only SCIM-provisioned accounts are linked by name; pat has no ScimUser row.
    user, _ = identity_sign_in(issuer=ISSUER, claims=claims(sub="p", preferred_username="pat"))
    assert user != personas.users.pat


def test_two_first_sign_ins_at_once_end_in_one_link(personas, monkeypatch):
    # The other sign-in committed its link between our lookup and our insert.
    winner, _ = identity_sign_in(issuer=ISSUER, claims=claims(groups=["nhi-payments"]))
    real = identity_sync._identity_for
    lookups = []

    def missed_once(issuer, subject):
        lookups.append(subject)
        return None if len(lookups) == 1 else real(issuer, subject)

    monkeypatch.setattr(identity_sync, "_identity_for", missed_once)
    user, _ = identity_sign_in(issuer=ISSUER, claims=claims(groups=["nhi-payments"]))
    assert user == winner and len(lookups) == 2
    assert ExternalIdentity.objects.filter(subject="ada-1").count() == 1
    assert User.objects.filter(username__startswith="ada").count() == 1


def test_a_subject_too_long_to_keep_is_refused_and_nothing_changes(personas):
    before = User.objects.count()
    with pytest.raises(SignInRefused) as refused:
        identity_sign_in(issuer=ISSUER, claims=claims(sub="s" * 256))
    assert refused.value.message == SUBJECT_TOO_LONG.format(limit=255)
    assert User.objects.count() == before and not ExternalIdentity.objects.exists()
    user, _ = identity_sign_in(issuer=ISSUER, claims=claims(sub="s" * 255))
    assert ExternalIdentity.objects.get(user=user).subject == "s" * 255


def test_malformed_rules_refuse_before_anything_is_written(personas, settings):
    settings.NHI_OIDC_GROUP_RULES = {"nhi-payments": "payments"}
    with pytest.raises(ImproperlyConfigured, match="NHI_OIDC_GROUP_RULES"):
        identity_sign_in(issuer=ISSUER, claims=claims(groups=["nhi-payments"]))
    assert not ExternalIdentity.objects.exists()
