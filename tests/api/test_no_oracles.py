"""Registering is no oracle (issue 13): an external id another team holds, on a path
the caller cannot see, answers exactly what an invisible path answers (404), through
create and register alike; whoever can see the path is told the field is taken."""

from __future__ import annotations

import uuid

import pytest
from rest_framework.test import APIClient

from registry.models import AccessPath, AuditEvent
from registry.rules import errors

pytestmark = pytest.mark.django_db


def body(external_id: str, owner: str = "data") -> dict:
    return {
        "name": "nightly-report", "kind": "service_account", "system": "aws",
        "external_id": external_id, "environment": "prod", "owner_team": owner,
        "justification": "The data team's nightly report reads the warehouse with it.",
        "ticket_url": "https://tickets.example.com/browse/SEC-77", "risk_tier": "low",
    }  # fmt: skip


@pytest.fixture
def dana(personas) -> APIClient:
    client = APIClient()
    client.force_authenticate(personas.users.dana)  # data: cannot see payments' paths
    return client


@pytest.mark.parametrize("route", ["/api/v1/access-paths/", "/api/v1/access-paths/register/"])
def test_a_taken_id_of_an_invisible_path_answers_like_an_invisible_path(dana, path, route):
    invisible = dana.get(f"/api/v1/access-paths/{uuid.uuid4()}/")
    before = (AccessPath.objects.count(), AuditEvent.objects.count())
    taken = dana.post(route, body(path.external_id), format="json")
    assert (taken.status_code, taken.json()) == (invisible.status_code, invisible.json())
    assert taken.status_code == 404
    assert (AccessPath.objects.count(), AuditEvent.objects.count()) == before


def test_a_free_id_registers(dana):
    assert dana.post("/api/v1/access-paths/", body("aws:free-1"), format="json").status_code == 201


def test_whoever_sees_the_path_is_told_it_is_taken(personas, path):
    lee = APIClient()
    lee.force_authenticate(personas.users.lee)
    response = lee.post(
        "/api/v1/access-paths/", body(path.external_id, owner="payments"), format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {"external_id": [errors.DUPLICATE_EXTERNAL_ID]}
