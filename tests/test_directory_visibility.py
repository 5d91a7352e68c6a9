"""The team directory: names for everyone signed in, contact addresses only for people
in a team, integrations and security (issue 13)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


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
