"""Concurrent SCIM PATCHes on one group lose nothing (PostgreSQL only: one connection
per thread). A PATCH is applied to the members it read and written back whole, so the
view takes the writers' lock before reading: the second request reads what the first
committed."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from registry.models import Membership, Team
from tests.scim.conftest import ScimClient
from tests.services.test_concurrency import race

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROUNDS = 4


def _members(team: Team) -> set[str]:
    current = Membership.objects.filter(team=team, ended_at__isnull=True).select_related("user")
    return {m.user.username for m in current}


def _patch(secret: str, team: Team, op: str, user: User):
    def send():
        path = "members" if op == "add" else f'members[value eq "{user.pk}"]'
        operation = {"op": op, "path": path}
        if op == "add":
            operation["value"] = [{"value": str(user.pk)}]
        return ScimClient(secret).patch(f"Groups/{team.pk}", [operation])

    return send


def test_two_adds_and_a_remove_at_once_all_survive(scim_token, personas):
    secret = scim_token[1]
    data = personas.teams.data
    for round_ in range(ROUNDS):
        a = User.objects.create_user(f"a{round_}", f"a{round_}@example.com", "x")
        b = User.objects.create_user(f"b{round_}", f"b{round_}@example.com", "x")
        leaver = User.objects.create_user(f"c{round_}", f"c{round_}@example.com", "x")
        ScimClient(secret).patch(
            f"Groups/{data.pk}",
            [{"op": "add", "path": "members", "value": [{"value": str(leaver.pk)}]}],
        )
        before = _members(data)
        outcomes = race(
            _patch(secret, data, "add", a),
            _patch(secret, data, "add", b),
            _patch(secret, data, "remove", leaver),
        )
        assert [o.value.status_code for o in outcomes] == [200, 200, 200], [
            o.value.content for o in outcomes
        ]
        assert _members(data) == (before | {a.username, b.username}) - {leaver.username}
        data.refresh_from_db()
        assert data.is_active
