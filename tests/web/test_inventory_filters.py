"""The inventory page: the new filters narrow it, and an unknown parameter is a 400 with
the message in the filter area and no rows, while the page's own keys still work."""

from __future__ import annotations

import pytest
from django.urls import reverse

from registry.models import AccessPath

pytestmark = pytest.mark.django_db


@pytest.fixture
def scene(make_path, personas):
    static = make_path(
        name="static-key",
        credential_lifetime=AccessPath.CredentialLifetime.STATIC,
        secops_team=personas.teams.security,
    )
    ephemeral = make_path(
        name="ephemeral-role", credential_lifetime=AccessPath.CredentialLifetime.EPHEMERAL
    )
    return static, ephemeral


def shown(client, query: dict) -> list[str]:
    response = client.get(reverse("registry:path-list"), query)
    assert response.status_code == 200
    return [p.name for p in response.context["page"]]


def test_new_filters_narrow_the_page(client, personas, scene):
    client.force_login(personas.users.sam)
    assert shown(client, {"credential_lifetime": "static"}) == ["static-key"]
    assert shown(client, {"credential_lifetime": "ephemeral"}) == ["ephemeral-role"]
    assert shown(client, {"secops_team": "security"}) == ["static-key"]
    assert sorted(shown(client, {"requires_human_signoff": "false"})) == [
        "ephemeral-role",
        "static-key",
    ]


def test_team_filters_are_suggest_inputs_not_dropdowns(client, personas, scene):
    client.force_login(personas.users.sam)
    html = client.get(reverse("registry:path-list"), {"q": "key"}).content.decode()
    for name in ("approved_by_team", "iam_team", "pam_team", "secops_team"):
        assert f'list="{name}-suggestions"' in html
        assert f'<select name="{name}"' not in html


def test_unknown_parameter_is_a_400_with_the_message_and_no_rows(client, personas, scene):
    client.force_login(personas.users.sam)
    query = {"credential_lifetme": "static", "sort": "name"}
    response = client.get(reverse("registry:path-list"), query)
    html = response.content.decode()
    assert response.status_code == 400
    assert response.context["page"] == []
    assert "Check the filters: credential_lifetme: Unknown filter" in html
    assert "static-key" not in html and "ephemeral-role" not in html
    export = client.get(reverse("registry:path-export"), query)
    assert export.status_code == 400


def test_page_keys_still_work(client, personas, scene):
    client.force_login(personas.users.sam)
    names = shown(client, {"sort": "name", "select": "page", "credential_lifetime": "static"})
    assert names == ["static-key"]
