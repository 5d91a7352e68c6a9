"""SCIM Groups are teams: create, filter by displayName, members added and removed as
Entra ID and Okta send them (through the audited team services), an emptied or deleted
group's team inactive and its paths lapsed in the same request, and back again."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from registry.audit import verify_chain
from registry.models import AuditEvent, Membership, ScimGroup, Team
from registry.selectors.scim import team_provider_changes
from tests.scim.conftest import status_now, user_body

pytestmark = pytest.mark.django_db


def members_of(team: Team) -> set[str]:
    current = Membership.objects.filter(team=team, ended_at__isnull=True)
    return {m.user.username for m in current.select_related("user")}


def test_create_group_makes_a_team_with_members(scim, personas):
    pat = personas.users.pat
    answer = scim.post(
        "Groups",
        {
            "displayName": "Fraud Analytics",
            "externalId": "g-1",
            "members": [{"value": str(pat.pk)}],
        },
    )
    assert answer.status_code == 201, answer.content
    body = answer.json()
    team = Team.objects.get(pk=body["id"])
    assert (team.slug, team.name, team.kind) == ("fraud-analytics", "Fraud Analytics", "product")
    assert body["members"] == [
        {
            "value": str(pat.pk),
            "$ref": f"http://127.0.0.1:8000/scim/v2/Users/{pat.pk}",
            "type": "User",
        }
    ]
    assert members_of(team) == {"pat"}
    assert Membership.objects.get(team=team).role == "member"
    assert {e.action for e in AuditEvent.objects.filter(actor_label__startswith="SCIM ")} >= {
        "team.created",
        "membership.added",
    }


def test_existing_team_name_is_409(scim, personas):
    answer = scim.post("Groups", {"displayName": "payments"})
    assert answer.status_code == 409
    assert answer.json()["scimType"] == "uniqueness"


def test_unknown_member_is_400_and_nothing_is_created(scim, personas):
    teams = Team.objects.count()
    answer = scim.post("Groups", {"displayName": "New", "members": [{"value": "99999"}]})
    assert answer.status_code == 400
    assert answer.json()["detail"].startswith("members")
    assert Team.objects.count() == teams


def test_filter_by_display_name_and_mapping(scim, personas, settings):
    found = scim.get('Groups?filter=displayName eq "PAYMENTS"').json()
    assert [r["id"] for r in found["Resources"]] == [str(personas.teams.payments.pk)]
    settings.NHI_SCIM_GROUP_TEAMS = {"nhi-payments": "payments"}
    mapped = scim.get('Groups?filter=displayName eq "nhi-payments"').json()["Resources"]
    assert [(r["id"], r["displayName"]) for r in mapped] == [
        (str(personas.teams.payments.pk), "nhi-payments")
    ]
    # Mapped to another name, the team is no longer found by its own.
    assert scim.get('Groups?filter=displayName eq "payments"').json()["totalResults"] == 0
    excluded = scim.get(f"Groups/{personas.teams.payments.pk}?excludedAttributes=members").json()
    assert "members" not in excluded and excluded["displayName"] == "nhi-payments"


def test_members_filter(scim, personas):
    pat = personas.users.pat
    listed = scim.get(f'Groups?filter=members.value eq "{pat.pk}"').json()["Resources"]
    assert [r["displayName"] for r in listed] == ["Payments"]


def test_patch_members_as_entra_and_okta_send_them(scim, personas):
    payments = personas.teams.payments
    otto, dana, pat = personas.users.otto, personas.users.dana, personas.users.pat
    url = f"Groups/{payments.pk}"
    added = scim.patch(
        url,
        [
            {
                "op": "Add",
                "path": "members",
                "value": [{"value": str(otto.pk)}, {"value": str(dana.pk)}],
            }
        ],
    )
    assert added.status_code == 200, added.content
    assert members_of(payments) == {"pat", "lee", "otto", "dana"}
    # Okta: remove by value filter.
    scim.patch(url, [{"op": "remove", "path": f'members[value eq "{otto.pk}"]'}])
    # Entra ID: remove with the values listed.
    scim.patch(url, [{"op": "Remove", "path": "members", "value": [{"value": str(dana.pk)}]}])
    assert members_of(payments) == {"pat", "lee"}
    # Okta renames with a no-path replace.
    renamed = scim.patch(
        url, [{"op": "replace", "value": {"id": str(payments.pk), "displayName": "Pay"}}]
    )
    assert renamed.json()["displayName"] == "Pay"
    assert Membership.objects.get(team=payments, user=personas.users.lee).role == "lead"  # kept
    assert Membership.objects.filter(team=payments, user=pat, ended_at__isnull=True).exists()
    ended = AuditEvent.objects.filter(action="membership.ended", actor_label__startswith="SCIM ")
    assert ended.count() == 2
    assert {e.action for e in team_provider_changes(payments)} >= {
        "membership.added",
        "membership.ended",
        "team.updated",
    }
    assert verify_chain().intact
    # The team page lists them for whoever may read the team.
    client = Client()
    client.force_login(personas.users.lee)
    page = client.get(reverse("registry:team-detail", args=[payments.slug])).content.decode()
    section = page[page.index("Changes from the identity provider") :]
    assert "Membership ended" in section and "Membership added" in section
    assert "SCIM " in section


def test_emptied_group_lapses_its_paths_in_the_same_request(scim, personas, make_path):
    payments = personas.teams.payments
    path = make_path()
    answer = scim.patch(
        f"Groups/{payments.pk}", [{"op": "replace", "path": "members", "value": []}]
    )
    assert answer.status_code == 200
    assert "members" not in answer.json()
    payments.refresh_from_db()
    assert payments.is_active is False
    assert status_now(personas, path) == "lapsed"
    assert ScimGroup.objects.get(team=payments).deactivated_by_scim
    deactivated = AuditEvent.objects.get(action="team.deactivated")
    assert deactivated.reason == "Its group was emptied in the identity provider (SCIM)."
    # Members pushed again bring the team (and its paths) back.
    lee = personas.users.lee
    scim.patch(
        f"Groups/{payments.pk}",
        [{"op": "add", "path": "members", "value": [{"value": str(lee.pk)}]}],
    )
    payments.refresh_from_db()
    assert payments.is_active is True
    assert status_now(personas, path) == "active"


def test_a_team_security_deactivated_stays_inactive(scim, personas, make_path):
    from registry.services.teams import team_deactivate

    growth = personas.teams.growth
    team_deactivate(actor=personas.sam, team=growth, reason="Merged into payments (ORG-9).")
    otto = personas.users.otto
    scim.patch(
        f"Groups/{growth.pk}",
        [{"op": "add", "path": "members", "value": [{"value": str(otto.pk)}]}],
    )
    growth.refresh_from_db()
    assert growth.is_active is False


def test_delete_group(scim, personas, make_path):
    data = personas.teams.data
    path = make_path(owner_team=data)
    assert scim.delete(f"Groups/{data.pk}").status_code == 204
    data.refresh_from_db()
    assert data.is_active is False
    assert members_of(data) == set()
    assert status_now(personas, path) == "lapsed"
    assert scim.get(f"Groups/{data.pk}").status_code == 404
    assert str(data.pk) not in [r["id"] for r in scim.get("Groups").json()["Resources"]]


def test_security_group_is_not_deleted(scim, personas):
    security = personas.teams.security
    answer = scim.delete(f"Groups/{security.pk}")
    assert answer.status_code == 403  # more refusals in test_governance.py
    security.refresh_from_db()
    assert security.is_active and members_of(security) == {"sam"}


def test_put_group(scim, personas):
    data, otto = personas.teams.data, personas.users.otto
    answer = scim.put(
        f"Groups/{data.pk}", {"displayName": "Data", "members": [{"value": str(otto.pk)}]}
    )
    assert answer.status_code == 200
    assert members_of(data) == {"otto"}
    data.refresh_from_db()
    assert data.is_active  # never empty in between: dana left as otto joined


def test_stale_if_match_on_a_group(scim, personas):
    payments = personas.teams.payments
    etag = scim.get(f"Groups/{payments.pk}")["ETag"]
    scim.patch(f"Groups/{payments.pk}", [{"op": "replace", "path": "displayName", "value": "P2"}])
    stale = scim.put(f"Groups/{payments.pk}", {"displayName": "P3"}, **{"If-Match": etag})
    assert stale.status_code == 412
    assert members_of(payments) == {"pat", "lee"}


def test_removing_the_display_name_is_refused(scim, personas):
    answer = scim.patch(
        f"Groups/{personas.teams.data.pk}", [{"op": "remove", "path": "displayName"}]
    )
    assert answer.status_code == 400


def test_new_user_then_group_membership_roundtrip(scim, personas):
    made = scim.post("Users", user_body("newbie")).json()
    group = scim.post(
        "Groups", {"displayName": "Newbies", "members": [{"value": made["id"]}]}
    ).json()
    user = scim.get(f"Users/{made['id']}").json()
    assert [g["value"] for g in user["groups"]] == [group["id"]]
