"""SCIM cannot take over the registry's own governance: the security, iam and pam teams
and the people who are staff, superuser or their members are read-only to it. Every
refusal is a SCIM 403 naming why, and changes nothing (no row, no audit event)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from registry import services
from registry.models import AuditEvent, Membership, ScimGroup, ScimUser, Team
from tests.conftest import NOW
from tests.scim.conftest import user_body

pytestmark = pytest.mark.django_db

ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


def snapshot() -> tuple:
    """Everything a SCIM write could change."""
    return (
        sorted(Membership.objects.values_list("pk", "team_id", "user_id", "role", "ended_at")),
        sorted(Team.objects.values_list("pk", "slug", "name", "kind", "is_active")),
        sorted(
            User.objects.values_list(
                "pk", "username", "first_name", "last_name", "email", "is_active"
            )
        ),
        sorted(ScimGroup.objects.values_list("team_id", "external_id", "deleted_at")),
        sorted(ScimUser.objects.values_list("user_id", "external_id", "deleted_at")),
        AuditEvent.objects.count(),
    )


def assert_refused(answer, *words: str) -> None:
    assert answer.status_code == 403, answer.content
    body = answer.json()
    assert body["schemas"] == [ERROR] and body["status"] == "403"
    for word in words:
        assert word in body["detail"], body["detail"]


def _iam_team(personas) -> Team:
    team = services.team_create(
        actor=personas.system,
        data={"slug": "iam", "name": "Identity", "kind": Team.Kind.IAM},
        now=NOW,
    )
    services.membership_add(actor=personas.system, team=team, user=personas.users.dana, now=NOW)
    return team


def _group_requests(personas, team: Team) -> list[tuple[str, str, object]]:
    otto, member = personas.users.otto, Membership.objects.filter(team=team).first()
    assert member is not None
    return [
        (
            "patch",
            "add a member",
            [{"op": "add", "path": "members", "value": [{"value": str(otto.pk)}]}],
        ),
        ("patch", "remove every member", [{"op": "remove", "path": "members"}]),
        (
            "patch",
            "remove one member",
            [{"op": "remove", "path": f'members[value eq "{member.user_id}"]'}],
        ),
        ("patch", "rename", [{"op": "replace", "path": "displayName", "value": "Ours now"}]),
        ("patch", "empty by replace", [{"op": "replace", "path": "members", "value": []}]),
        (
            "put",
            "replace the members",
            {"displayName": team.name, "members": [{"value": str(otto.pk)}]},
        ),
        ("put", "empty it", {"displayName": team.name, "members": []}),
        ("delete", "delete it", None),
    ]


@pytest.mark.parametrize("kind", ["security", "iam"])
@pytest.mark.parametrize("index", range(8))
def test_a_protected_team_is_read_only(scim, personas, kind, index):
    team = personas.teams.security if kind == "security" else _iam_team(personas)
    method, _, payload = _group_requests(personas, team)[index]
    before = snapshot()
    url = f"Groups/{team.pk}"
    if method == "patch":
        answer = scim.patch(url, payload)
    elif method == "put":
        answer = scim.put(url, payload)
    else:
        answer = scim.delete(url)
    assert_refused(answer, team.slug, "managed in the registry")
    assert snapshot() == before


def test_protected_teams_are_still_listed_and_a_no_op_is_accepted(scim, personas):
    security = personas.teams.security
    listed = {r["id"] for r in scim.get("Groups").json()["Resources"]}
    assert str(security.pk) in listed
    current = scim.get(f"Groups/{security.pk}").json()
    assert [m["value"] for m in current["members"]] == [str(personas.users.sam.pk)]
    before = snapshot()
    # Stating what is already there is not a change: a provider reconciling is fine.
    same = {"displayName": "Security", "members": [{"value": str(personas.users.sam.pk)}]}
    assert scim.put(f"Groups/{security.pk}", same).status_code == 200
    assert snapshot() == before


def _user_requests() -> list[tuple[str, object]]:
    return [
        ("patch", [{"op": "replace", "path": "active", "value": False}]),
        ("patch", [{"op": "replace", "value": {"active": "False"}}]),  # as Entra sends it
        (
            "patch",
            [{"op": "replace", "path": 'emails[type eq "work"].value', "value": "x@evil.test"}],
        ),
        ("patch", [{"op": "replace", "path": "userName", "value": "renamed"}]),
        ("put", None),
        ("delete", None),
    ]


def _governing_user(personas, why: str) -> User:
    if why == "a member of security":
        return personas.users.sam
    if why == "a member of iam":
        _iam_team(personas)
        return personas.users.dana
    user = personas.users.otto
    User.objects.filter(pk=user.pk).update(is_staff=True, is_superuser=why == "superuser")
    return User.objects.get(pk=user.pk)


@pytest.mark.parametrize("why", ["a member of security", "a member of iam", "staff", "superuser"])
@pytest.mark.parametrize("index", range(6))
def test_a_governing_user_is_read_only(scim, personas, why, index):
    user = _governing_user(personas, why)
    method, payload = _user_requests()[index]
    before = snapshot()
    url = f"Users/{user.pk}"
    if method == "patch":
        answer = scim.patch(url, payload)
    elif method == "put":
        answer = scim.put(url, user_body(user.username, active=False))
    else:
        answer = scim.delete(url)
    assert_refused(answer, why, "managed in the registry")
    assert snapshot() == before
    assert scim.get(url).status_code == 200  # still listed, read-only


def test_a_former_security_member_is_managed_by_scim_again(scim, personas):
    """The rule reads current memberships: someone who left security is an ordinary user."""
    sid = User.objects.create_user("sid", "sid@example.com", "x")
    services.membership_add(actor=personas.system, team=personas.teams.security, user=sid, now=NOW)
    assert (
        scim.patch(
            f"Users/{sid.pk}", [{"op": "replace", "path": "active", "value": False}]
        ).status_code
        == 403
    )
    membership = Membership.objects.get(user=sid, ended_at__isnull=True)
    services.membership_end(
        actor=personas.sam, membership=membership, reason="Moved to data.", now=NOW
    )
    answer = scim.patch(f"Users/{sid.pk}", [{"op": "replace", "path": "active", "value": False}])
    assert answer.status_code == 200, answer.content
    sid.refresh_from_db()
    assert sid.is_active is False


def test_scim_cannot_add_itself_to_security_through_a_new_user(scim, personas):
    """A user SCIM creates is not governing, and still cannot be pushed into security."""
    created = scim.post("Users", user_body("mallory@example.com"))
    assert created.status_code == 201
    security = personas.teams.security
    answer = scim.patch(
        f"Groups/{security.pk}",
        [{"op": "add", "path": "members", "value": [{"value": created.json()["id"]}]}],
    )
    assert_refused(answer, "security")
    assert not Membership.objects.filter(team=security, user_id=created.json()["id"]).exists()
