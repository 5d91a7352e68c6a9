"""The OpenAPI schema and the API's documentation page."""

from __future__ import annotations

import re

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def test_schema_is_an_openapi_3_document():
    response = APIClient().get("/api/schema/?format=json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    paths = schema["paths"]
    for route in (
        "/api/v1/access-paths/",
        "/api/v1/access-paths/register/",
        "/api/v1/access-paths/{id}/attest/",
        "/api/v1/claims/{id}/approve/",
        "/api/v1/transfers/{id}/accept/",
        "/api/v1/teams/{slug}/members/",
        "/api/v1/exceptions/{id}/reject/",
        "/api/v1/audit-events/",
        "/api/v1/notifications/",
        "/api/v1/me/",
    ):
        assert route in paths, route
    assert schema["components"]["securitySchemes"]["bearerToken"]["scheme"] == "bearer"


def test_docs_use_only_vendored_static_assets():
    response = APIClient().get("/api/docs/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assets = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
    assert assets, "the page loads no assets at all"
    # Vendored files, and Swagger UI's starter script served by the page's own view
    # (the split view: no inline script, see tests/web/test_csp.py).
    assert all(a.startswith("/static/") or a.startswith("/api/docs/?script") for a in assets)
    assert not re.search(r"https?://", html)
    starter = APIClient().get("/api/docs/?script=").content.decode()
    assert "/api/schema/" in starter
    assert not re.search(r"https?://", starter)
