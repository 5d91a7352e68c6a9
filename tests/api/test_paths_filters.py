"""The API's access-path list: the new filters narrow it, an unknown parameter is a 400
naming it (in the API's error shape), its own steering parameters still work, and a
filtered list costs the same queries for one row as for many."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from registry.models import AccessPath
from registry.rules import errors

pytestmark = pytest.mark.django_db

URL = "/api/v1/access-paths/"


@pytest.fixture
def paths(make_path, personas, now):
    static = make_path(
        now=now,
        name="static-key",
        credential_lifetime=AccessPath.CredentialLifetime.STATIC,
        requires_human_signoff=True,
        pam_team=personas.teams.security,
    )
    ephemeral = make_path(
        now=now, name="ephemeral-role", credential_lifetime=AccessPath.CredentialLifetime.EPHEMERAL
    )
    return static, ephemeral


def listed(client, query: str) -> list[str]:
    response = client.get(f"{URL}?{query}")
    assert response.status_code == 200, response.json()
    return [row["name"] for row in response.json()["results"]]


def test_new_filters_narrow_the_list(sam, paths):
    assert listed(sam, "credential_lifetime=static") == ["static-key"]
    assert listed(sam, "credential_lifetime=ephemeral") == ["ephemeral-role"]
    assert listed(sam, "requires_human_signoff=true") == ["static-key"]
    assert listed(sam, "pam_team=security") == ["static-key"]
    assert sorted(listed(sam, "approved_by_team=payments")) == ["ephemeral-role", "static-key"]


def test_unknown_parameter_is_a_400_naming_it(sam, paths):
    response = sam.get(f"{URL}?credential_lifetme=static")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert list(body["errors"]) == ["credential_lifetme"]
    message = body["errors"]["credential_lifetme"][0]
    assert message.startswith(errors.UNKNOWN_FILTER.split("{")[0])
    assert body["detail"] == body["errors"]["credential_lifetme"][0]


def test_steering_parameters_still_work(sam, paths):
    response = sam.get(f"{URL}?page_size=1&ordering=-name&format=json&credential_lifetime=static")
    assert response.status_code == 200
    assert [row["name"] for row in response.json()["results"]] == ["static-key"]
    following = sam.get(f"{URL}?page_size=1")
    cursor_url = following.json()["next"]
    assert sam.get(cursor_url).status_code == 200


def _queries(client, query: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(f"{URL}?{query}").status_code == 200
    return len(captured)


def test_filtered_list_query_count_is_constant(sam, make_path, personas, now):
    query = "credential_lifetime=static&requires_human_signoff=true&pam_team=security"
    make_path(
        now=now,
        name="static-0",
        credential_lifetime="static",
        requires_human_signoff=True,
        pam_team=personas.teams.security,
    )
    one = _queries(sam, query)
    for number in range(1, 8):
        make_path(
            now=now,
            name=f"static-{number}",
            credential_lifetime="static",
            requires_human_signoff=True,
            pam_team=personas.teams.security,
        )
    assert len(listed(sam, query)) == 8
    assert _queries(sam, query) == one
