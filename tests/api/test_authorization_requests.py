"""The REST API's authorization matrix (tests/api/authorization_matrix.py) for claims,
transfers, policy exceptions and change requests.

A read-only token is refused (403) on every write before any object is looked up; an
expired or revoked token, like no credentials at all, is a 401 everywhere; an invisible
object is a 404, never a 403. How a cell is run and checked: tests/api/authorization.py."""

from __future__ import annotations

import pytest

from tests.api.authorization import check_cell
from tests.api.authorization_matrix import cell_ids, cells

pytestmark = pytest.mark.django_db

CELLS = cells("requests")


@pytest.mark.parametrize(("persona", "route", "obj", "expected"), CELLS, ids=cell_ids(CELLS))
def test_authorization_matrix(world, persona, route, obj, expected):
    check_cell(world, persona, route, obj, expected)
