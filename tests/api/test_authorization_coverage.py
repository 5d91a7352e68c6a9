"""The authorization matrix (tests/api/authorization_matrix.py) covers every persona,
every route the API serves and every object each route takes, and each of its cells is
checked by exactly one of tests/api/test_authorization_<group>.py."""

from __future__ import annotations

from django.urls import URLPattern

from api import urls as api_urls
from api.urls import router
from tests.api.authorization_matrix import (
    CELLS,
    GROUPS,
    HIDDEN,
    LISTED,
    PERSONAS,
    RESOURCE_OBJECTS,
    ROUTE_OBJECTS,
)
from tests.api.authorization_matrix import cells as group_cells


def routes_in_api() -> set[str]:
    """Every (resource, action) the router serves, and the API's other views but the
    public schema and docs (that is, me/)."""
    routes = {
        pattern.name
        for pattern in api_urls.urlpatterns
        # GitHub's webhook is authenticated by its signature, never by a persona
        # (tests/api/test_incident_intake.py).
        if isinstance(pattern, URLPattern)
        and pattern.name not in ("schema", "docs", "incident-github")
    }
    for prefix, viewset, _basename in router.registry:
        for route in router.get_routes(viewset):
            for action in route.mapping.values():
                if hasattr(viewset, action):
                    routes.add(f"{prefix}:{action}")
    return routes


def test_matrix_covers_every_persona_route_and_object():
    routes = routes_in_api()
    expected_cells = {
        (persona, route, obj)
        for route in routes
        for obj in ROUTE_OBJECTS.get(route, RESOURCE_OBJECTS[route.partition(":")[0]])
        for persona in PERSONAS
    }
    cells = [(persona, route, obj) for persona, route, obj, _ in CELLS]
    assert len(cells) == len(set(cells)), "a cell is listed twice"
    missing = expected_cells - set(cells)
    extra = set(cells) - expected_cells
    assert not missing, f"cells without an expected status: {sorted(missing)}"
    assert not extra, f"cells for routes or objects the API does not have: {sorted(extra)}"
    # The personas the issue names, and its routes, are all here.
    assert set(PERSONAS) >= {
        "pat", "lee", "dana", "otto", "sam", "payments_rw", "payments_ro", "expired", "revoked"
    }  # fmt: skip
    assert {
        "access-paths:list",
        "access-paths:create",
        "access-paths:retrieve",
        "access-paths:partial_update",
        "access-paths:register",
        "access-paths:claim",
        "access-paths:attest",
        "access-paths:transfer",
        "access-paths:revoke",
        "claims:approve",
        "claims:reject",
        "transfers:accept",
        "transfers:decline",
        "teams:members",
        "exceptions:create",
        "exceptions:approve",
        "exceptions:reject",
        "audit-events:list",
        "notifications:list",
        "me",
    } <= routes
    for expected in (cell[3] for cell in CELLS):
        assert expected in (LISTED, HIDDEN, 200, 201, 202, 401, 403, 404, 409), expected
    # Each cell is checked by exactly one module: every resource is in one group.
    grouped = [cell for group in GROUPS for cell in group_cells(group)]
    assert len(grouped) == len(CELLS) and set(grouped) == set(CELLS), "a cell in no group, or two"
