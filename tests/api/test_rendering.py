"""The hand-written path rendering says exactly what DRF's generic rendering says."""

import datetime as dt

import pytest
from rest_framework import serializers

from api.serializers import AccessPathSerializer
from registry import services
from registry.selectors import path_queryset
from tests.conftest import NOW

pytestmark = pytest.mark.django_db


def generic(path):
    return dict(serializers.ModelSerializer.to_representation(AccessPathSerializer(), path))


def test_fast_rendering_matches_drf(personas, make_path, unowned_path):
    tagged = make_path(tags=["pci", "soc2-scope"], steward_team=personas.teams.platform)
    services.path_attest(
        actor=personas.pat,
        path=tagged,
        decision="keep",
        still_needed=True,
        justification_accurate=True,
        least_privilege=True,
        no_human_use=True,
        now=NOW + dt.timedelta(days=1),
    )
    revoked = make_path(last_rotated_at=NOW - dt.timedelta(days=3))
    services.path_revoke(actor=personas.lee, path=revoked, reason="Replaced.", now=NOW)
    paths = path_queryset(actor=personas.sam, now=NOW).prefetch_related("tags")
    assert paths.count() == 3
    for path in paths:
        assert AccessPathSerializer(path).data == generic(path)
