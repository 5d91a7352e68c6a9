"""Provenance, issuer and MFA fields through the API (issue 18, items 2 and 5): a
pipeline or agent sends its change with the registration, reads it back on the path and
in the list, and filters by it; a refusal names each missing field and changes nothing."""

from __future__ import annotations

import pytest

from registry.models import AccessPath
from registry.rules import errors
from tests.api.helpers import assert_error, names, results, unchanged, url
from tests.conftest import CHANGE_URL, path_data

pytestmark = pytest.mark.django_db

NEW_FIELDS = {
    "change_url": CHANGE_URL,
    "merged_by": "lee",
    "merged_by_team": "payments",
    "proposed_by": "code-assistant 2.3",
    "issuer_kind": "github_app",
    "max_lease_seconds": 3600,
    "mfa_active": False,
}


def agent_body(**overrides) -> dict:
    body = path_data(
        name="triage-agent",
        kind="agent_credential",
        system="github",
        external_id="app-installation/55120",
        risk_tier="medium",
        owner_team="payments",
        credential_lifetime="short_lived",
    )
    body["created_via"] = "ai_agent"
    return body | overrides


def test_an_agent_registration_without_provenance_is_400_naming_each_field(ci):
    with unchanged():
        body = assert_error(ci.post(url(), agent_body(), format="json"), 400)
    assert set(body["errors"]) == {"change_url", "merged_by", "merged_by_team", "proposed_by"}
    assert body["errors"]["proposed_by"] == [
        errors.PROVENANCE_REQUIRED.format(created_via="ai_agent")
    ]
    assert not AccessPath.objects.filter(name="triage-agent").exists()


def test_the_new_fields_round_trip_through_create_read_and_the_list(ci, personas):
    created = ci.post(url(), agent_body(**NEW_FIELDS), format="json")
    assert created.status_code == 201, created.content
    shown = created.json()
    assert {key: shown[key] for key in NEW_FIELDS} == NEW_FIELDS
    path = AccessPath.objects.get(pk=shown["id"])
    assert path.merged_by_team == personas.teams.payments and path.mfa_active is False
    read = ci.get(url(path)).json()
    assert {key: read[key] for key in NEW_FIELDS} == NEW_FIELDS
    (row,) = results(ci.get(url(), {"merged_by_team": "payments"}))
    # A list row names each violation's rule and framework ids; the detail says it all.
    row_violations, read_violations = row.pop("violations"), read.pop("violations")
    assert row == read
    assert [v["rule"] for v in row_violations] == [v["rule"] for v in read_violations]


def test_the_owner_defaults_to_the_merging_team(ci):
    body = agent_body(**NEW_FIELDS)
    del body["owner_team"]
    created = ci.post(url(), body, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["owner_team"] == "payments"


def test_a_team_token_cannot_hand_access_to_another_merging_team(ci):
    body = agent_body(**NEW_FIELDS | {"merged_by_team": "data"})
    del body["owner_team"]
    with unchanged():
        assert_error(ci.post(url(), body, format="json"), 403)


def test_a_patch_sets_and_clears_the_reported_and_issuer_fields(ci, own):
    response = ci.patch(
        url(own),
        {"mfa_active": True, "issuer_kind": "vault_role", "max_lease_seconds": 900},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert (response.json()["mfa_active"], response.json()["max_lease_seconds"]) == (True, 900)
    cleared = ci.patch(url(own), {"mfa_active": None}, format="json")
    assert cleared.status_code == 200 and cleared.json()["mfa_active"] is None


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"max_lease_seconds": 600}, "max_lease_seconds", errors.MAX_LEASE_WITHOUT_ISSUER),
        ({"issuer_kind": "vault_role", "max_lease_seconds": 0}, "max_lease_seconds", None),
        ({"issuer_kind": "vault_role", "max_lease_seconds": 1.5}, "max_lease_seconds", None),
        ({"issuer_kind": "keychain"}, "issuer_kind", None),
        ({"merged_by_team": "nobody"}, "merged_by_team", None),
        ({"change_url": "ftp://git.example.com/c/1"}, "change_url", errors.CHANGE_URL_SCHEME),
        ({"mfa_active": "maybe"}, "mfa_active", None),
    ],
)
def test_bad_values_are_400_naming_the_field(ci, own, change, field, message):
    with unchanged():
        body = assert_error(ci.patch(url(own), change, format="json"), 400)
    assert set(body["errors"]) == {field}
    if message is not None:
        assert body["errors"][field] == [message]


def test_filters_by_issuer_merging_team_tool_and_provenance(ci, make_path, personas):
    make_path(
        name="agent-a", external_id="a", created_via="ai_agent", proposed_by="Code-Assistant 2"
    )
    make_path(name="pipe-b", external_id="b", created_via="pipeline")
    make_path(name="vault-c", external_id="c", issuer_kind="vault_role", max_lease_seconds=900)
    assert names(ci.get(url(), {"issuer": "true"})) == {"vault-c"}
    assert names(ci.get(url(), {"issuer_kind": "vault_role"})) == {"vault-c"}
    assert names(ci.get(url(), {"merged_by_team": "payments"})) == {"agent-a", "pipe-b"}
    assert names(ci.get(url(), {"proposed_by": "code-assistant 2"})) == {"agent-a"}
    assert names(ci.get(url(), {"has_provenance": "true"})) == {"agent-a", "pipe-b"}
    without = names(ci.get(url(), {"has_provenance": "false"}))  # the token's own path too
    assert "vault-c" in without and not without & {"agent-a", "pipe-b"}
    assert_error(ci.get(url(), {"issuer_kind": "keychain"}), 400, errors=["issuer_kind"])
