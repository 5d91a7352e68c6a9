"""SCIM Users: create, read, filter, page, replace, patch (as Entra ID and Okta send it),
deprovision, ETags, and the refusals (SCIM error format, nothing changed)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from registry.audit import verify_chain
from registry.models import AuditEvent, Membership, ScimUser
from tests.scim.conftest import status_now, user_body

pytestmark = pytest.mark.django_db
User = get_user_model()
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


def test_create_then_read(scim):
    created = scim.post("Users", user_body("ada@example.com", externalId="aad-1"))
    assert created.status_code == 201
    assert created["Content-Type"] == "application/scim+json"
    body = created.json()
    assert created["Location"].endswith(f"/scim/v2/Users/{body['id']}")
    assert body["userName"] == "ada@example.com"
    assert body["externalId"] == "aad-1"
    assert body["name"] == {"givenName": "Ada", "familyName": "Lovelace"}
    assert body["emails"][0]["value"] == "ada@example.com"
    assert body["meta"]["version"].startswith('W/"')
    user = User.objects.get(pk=body["id"])
    assert not user.has_usable_password()  # provisioned people sign in through the IdP
    fetched = scim.get(f"Users/{body['id']}")
    assert fetched.json() == body
    assert fetched["ETag"] == body["meta"]["version"]
    assert scim.get(f"Users/{body['id']}", **{"If-None-Match": fetched["ETag"]}).status_code == 304
    event = AuditEvent.objects.get(action="user.provisioned")
    assert event.actor_label.startswith("SCIM entra-id (nhir_")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ('userName eq "ADA@example.com"', ["ada@example.com"]),  # caseExact false
        ('externalId eq "aad-1"', ["ada@example.com"]),
        ('externalId eq "AAD-1"', []),  # externalId is case-exact
        ('userName eq "nobody"', []),
        ('userName sw "ada" and active eq true', ["ada@example.com"]),
        ('emails.value co "ada@"', ["ada@example.com"]),
    ],
)
def test_filter(scim, query, expected):
    scim.post("Users", user_body("ada@example.com", externalId="aad-1"))
    listed = scim.get(f"Users?filter={query}")
    assert listed.status_code == 200
    names = [r["userName"] for r in listed.json()["Resources"]]
    assert names == expected
    assert listed.json()["totalResults"] == len(expected)


@pytest.mark.parametrize(
    "query", ['userName gt "a"', "userName eq", 'title eq "x"', 'userName eq "a" or id eq "1"']
)
def test_unsupported_filter_is_a_scim_error(scim, query):
    answer = scim.get(f"Users?filter={query}")
    assert answer.status_code == 400
    assert answer.json()["schemas"] == [ERROR]
    assert answer.json()["scimType"] == "invalidFilter"


def test_pagination(scim, personas):
    everyone = User.objects.count()  # the personas
    first = scim.get("Users?startIndex=1&count=2").json()
    assert first["totalResults"] == everyone
    assert first["itemsPerPage"] == 2 and first["startIndex"] == 1
    rest = scim.get(f"Users?startIndex=3&count={everyone}").json()
    ids = [r["id"] for r in first["Resources"] + rest["Resources"]]
    assert len(ids) == len(set(ids)) == everyone
    assert scim.get("Users?count=0").json()["Resources"] == []
    assert scim.get("Users?count=x").status_code == 400


def test_pat_shows_his_team(scim, personas):
    pat = personas.users.pat
    body = scim.get(f"Users/{pat.pk}").json()
    assert body["groups"] == [
        {
            "value": str(personas.teams.payments.pk),
            "$ref": f"http://127.0.0.1:8000/scim/v2/Groups/{personas.teams.payments.pk}",
            "display": "Payments",
            "type": "direct",
        }
    ]


def test_duplicate_user_name_is_409_uniqueness(scim, personas):
    answer = scim.post("Users", user_body("PAT"))
    assert answer.status_code == 409
    assert answer.json()["scimType"] == "uniqueness"
    assert "userName" in answer.json()["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (user_body("", active=True), "userName"),
        (user_body("has space"), "userName"),
        (user_body("ok", emails=[{"value": "not-an-email", "primary": True}]), "emails"),
        (user_body("ok", active="maybe"), "active"),
        (user_body("ok", name="Ada"), "name"),
        (user_body("ok", externalId="AKIAIOSFODNN7EXAMPLE"), "externalId"),
    ],
)
def test_bad_input_names_the_field_and_changes_nothing(scim, personas, body, field):
    before = User.objects.count()
    answer = scim.post("Users", body)
    assert answer.status_code == 400, answer.content
    assert answer.json()["schemas"] == [ERROR]
    assert answer.json()["detail"].startswith(field)
    assert User.objects.count() == before


def test_malformed_json_is_400(scim):
    answer = scim.client.post("/scim/v2/Users", data="{", content_type="application/scim+json")
    assert answer.status_code == 400
    assert answer.json()["scimType"] == "invalidSyntax"


def test_put_replaces(scim):
    made = scim.post("Users", user_body("grace")).json()
    body = user_body("grace.hopper", name={"givenName": "Grace", "familyName": "Hopper"})
    replaced = scim.put(f"Users/{made['id']}", body)
    assert replaced.status_code == 200
    assert replaced.json()["userName"] == "grace.hopper"
    assert replaced.json()["name"] == {"givenName": "Grace", "familyName": "Hopper"}
    assert replaced.json()["meta"]["version"] != made["meta"]["version"]
    event = AuditEvent.objects.filter(action="user.updated").get()
    assert event.changes["userName"] == ["grace", "grace.hopper"]


def test_patch_as_entra_sends_it(scim):
    made = scim.post("Users", user_body("alan")).json()
    answer = scim.patch(
        f"Users/{made['id']}",
        [
            {"op": "Replace", "path": "name.givenName", "value": "Alan"},
            {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "alan@corp.example"},
            {"op": "Add", "path": "externalId", "value": "aad-alan"},
            {"op": "Replace", "path": "title", "value": "ignored: not kept"},
            {
                "op": "replace",
                "value": {"name.familyName": "Turing", "active": "True"},
            },
        ],
    )
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["name"] == {"givenName": "Alan", "familyName": "Turing"}
    assert body["emails"][0]["value"] == "alan@corp.example"
    assert body["externalId"] == "aad-alan"


@pytest.mark.parametrize(
    ("operations", "scim_type"),
    [
        ([{"op": "move", "path": "active", "value": False}], "invalidSyntax"),
        ([{"op": "remove"}], "noTarget"),
        ([{"op": "replace", "path": "emails[type eq]", "value": "x"}], "invalidFilter"),
        ([{"op": "replace", "path": "a b", "value": "x"}], "invalidPath"),
        ([], "invalidSyntax"),
    ],
)
def test_bad_patch(scim, personas, operations, scim_type):
    pat = personas.users.pat
    answer = scim.patch(f"Users/{pat.pk}", operations)
    assert answer.status_code == 400
    assert answer.json()["scimType"] == scim_type


def test_deactivating_offboards_at_once(scim, personas, make_path):
    """Entra's disable: every membership ends in this one request; a team left empty
    (data: dana alone) goes inactive and its paths read lapsed now."""
    dana = personas.users.dana
    data_path = make_path(owner_team=personas.teams.data)
    payments_path = make_path()
    answer = scim.patch(f"Users/{dana.pk}", [{"op": "Replace", "path": "active", "value": "False"}])
    assert answer.status_code == 200
    assert answer.json()["active"] is False
    assert "groups" not in answer.json()
    assert not Membership.objects.filter(user=dana, ended_at__isnull=True).exists()
    personas.teams.data.refresh_from_db()
    assert personas.teams.data.is_active is False
    assert status_now(personas, data_path) == "lapsed"
    assert status_now(personas, payments_path) == "active"
    assert AuditEvent.objects.filter(action="membership.ended").count() == 1
    assert AuditEvent.objects.filter(action="team.deactivated").count() == 1
    assert verify_chain().intact


def test_delete_deprovisions_and_keeps_the_row(scim, personas, make_path):
    pat, lee = personas.users.pat, personas.users.lee
    path = make_path()
    assert scim.delete(f"Users/{pat.pk}").status_code == 204
    assert scim.get(f"Users/{pat.pk}").status_code == 404
    assert scim.delete(f"Users/{pat.pk}").status_code == 404
    pat.refresh_from_db()
    assert pat.is_active is False
    assert ScimUser.objects.get(user=pat).deleted_at is not None
    assert not Membership.objects.filter(user=pat, ended_at__isnull=True).exists()
    assert Membership.objects.filter(user=pat).exists()  # ended, not deleted
    # lee still answers for payments: the team stays active, its paths too.
    assert Membership.objects.filter(user=lee, ended_at__isnull=True).exists()
    assert status_now(personas, path) == "active"
    names = [r["userName"] for r in scim.get("Users").json()["Resources"]]
    assert "pat" not in names
    assert AuditEvent.objects.filter(action="user.deprovisioned").count() == 1


def test_stale_if_match_is_412_and_changes_nothing(scim, personas):
    pat = personas.users.pat
    version = scim.get(f"Users/{pat.pk}").json()["meta"]["version"]
    scim.patch(f"Users/{pat.pk}", [{"op": "replace", "path": "name.givenName", "value": "P"}])
    stale = scim.patch(
        f"Users/{pat.pk}",
        [{"op": "replace", "path": "active", "value": False}],
        **{"If-Match": version},
    )
    assert stale.status_code == 412
    pat.refresh_from_db()
    assert pat.is_active
    current = scim.get(f"Users/{pat.pk}")["ETag"]
    fresh = scim.patch(
        f"Users/{pat.pk}",
        [{"op": "replace", "path": "name.givenName", "value": "Pat"}],
        **{"If-Match": current},
    )
    assert fresh.status_code == 200
    assert scim.delete(f"Users/{pat.pk}", **{"If-Match": current}).status_code == 412


def test_unknown_user_is_404(scim):
    for url in ("Users/999999", "Users/abc"):
        answer = scim.get(url)
        assert answer.status_code == 404
        assert answer.json()["schemas"] == [ERROR]
