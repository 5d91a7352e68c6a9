"""Dates that record what happened cannot be in the future: a `last_rotated_at` in
2036 would silence the rotation rule for a decade (issue 13)."""

from __future__ import annotations

import datetime as dt

import pytest
from rest_framework.test import APIClient

from registry import services
from registry.models import AccessPath
from registry.rules import errors
from registry.rules.errors import Invalid
from tests.conftest import NOW

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("field", ["last_rotated_at", "last_used_at"])
def test_a_future_date_is_refused_naming_the_field(personas, path, field):
    with pytest.raises(Invalid) as refused:
        services.path_update(
            actor=personas.lee, path=path, changes={field: NOW + dt.timedelta(days=3650)}, now=NOW
        )
    assert refused.value.errors == {field: [errors.DATE_IN_FUTURE]}
    assert getattr(AccessPath.objects.get(pk=path.pk), field) != NOW + dt.timedelta(days=3650)


def test_a_few_minutes_of_clock_skew_are_fine(personas, path):
    services.path_update(
        actor=personas.lee,
        path=path,
        changes={"last_used_at": NOW + dt.timedelta(minutes=2)},
        now=NOW,
    )


def test_the_api_refuses_it_too(personas, path):
    api = APIClient()
    api.force_authenticate(personas.users.lee)
    response = api.patch(
        f"/api/v1/access-paths/{path.pk}/",
        {"last_rotated_at": "2036-01-01T00:00:00Z"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {"last_rotated_at": [errors.DATE_IN_FUTURE]}
