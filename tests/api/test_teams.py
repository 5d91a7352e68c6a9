"""The teams resource: list, retrieve and members; the directory shows contact
addresses only to people in a team, integrations and security (issue 13)."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from tests.api.helpers import assert_error, results

pytestmark = pytest.mark.django_db

# --- teams ----------------------------------------------------------------------------


def test_teams_list_and_retrieve(pat, personas):
    slugs = {item["slug"] for item in results(pat.get(reverse("team-list")))}
    assert slugs == {"security", "platform", "payments", "data", "growth"}
    data = pat.get(reverse("team-detail", args=["data"])).json()
    assert data == {
        "slug": "data",
        "name": "Data",
        "kind": "product",
        "email": "data@example.com",
        "parent": None,
        "is_active": True,
    }


def test_team_members_for_the_team_itself(pat, personas):
    response = pat.get(reverse("team-members", args=["payments"]))
    assert response.status_code == 200
    assert {(m["username"], m["role"]) for m in response.json()} == {
        ("pat", "member"),
        ("lee", "lead"),
    }


def test_team_members_of_another_team_are_404(pat, personas):
    assert_error(pat.get(reverse("team-members", args=["data"])), 404)


def test_unknown_team_is_404(pat, personas):
    assert_error(pat.get(reverse("team-detail", args=["nope"])), 404)
    assert_error(pat.get(reverse("team-members", args=["nope"])), 404)


# --- the directory: who sees contact addresses (issue 13) ------------------------------


def directory(user) -> dict[str, str]:
    api = APIClient()
    api.force_authenticate(user)
    teams = api.get("/api/v1/teams/").json()["results"]
    return {t["slug"]: t["email"] for t in teams}


def test_someone_in_no_team_sees_names_only(personas):
    seen = directory(personas.users.otto)
    assert set(seen) >= {"payments", "security"}
    assert set(seen.values()) == {""}
    api = APIClient()
    api.force_authenticate(personas.users.otto)
    assert api.get("/api/v1/teams/payments/").json()["email"] == ""


def test_people_in_a_team_see_where_to_route(personas):
    assert directory(personas.users.dana)["payments"] == "payments@example.com"
    assert directory(personas.users.sam)["payments"] == "payments@example.com"
