"""The hand-written path rendering says exactly what DRF's generic rendering says."""

import datetime as dt

import pytest
from rest_framework import serializers

from api.path_rows import page_json, page_values
from api.serializers import AccessPathSerializer
from registry import services
from registry.selectors import path_queryset
from tests.conftest import NOW, TICKET

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


def test_list_page_rows_render_as_the_serializer_does(personas, make_path):
    """The list reads plain rows (api/path_rows.py); each must be exactly the path's
    serializer output: approvals, revokers, control points from the path, the system
    and the steward, identifiers, tags, every status and date kind, a team without
    people, across the page's order."""
    teams = personas.teams
    services.system_control_policy_set(
        actor=personas.sam, system="aws", iam_team=teams.security, pam_team=teams.data,
        secops_team=None, now=NOW,
    )  # fmt: skip
    empty = services.team_create(
        actor=personas.system, data={"slug": "nobody-here", "name": "Empty"}, now=NOW
    )
    made = [
        make_path(name="tagged", tags=["pci", "soc2-scope"], steward_team=teams.platform,
                  revoker_teams=[teams.security, teams.data]),
        make_path(name="own-points", system="gcp", iam_team=teams.growth, pam_team=teams.data,
                  secops_team=teams.security, steward_team=teams.platform,
                  approved_at=NOW - dt.timedelta(days=2), approval_ticket_url=TICKET,
                  identifiers=[{"kind": "key_id", "value": "AKIAEXAMPLE0001"},
                               {"kind": "client_id", "value": "app-1"}]),
        make_path(name="unowned", owner_team=None, steward_team=teams.platform,
                  justification="", ticket_url=""),
        make_path(name="orphaned", owner_team=empty, risk_tier="low"),
        make_path(name="expiring", expires_at=NOW + dt.timedelta(hours=40), rotation_days=30,
                  last_used_at=NOW - dt.timedelta(hours=5, microseconds=1234)),
        make_path(name="same-owners", tags=["pci"], steward_team=teams.platform),
    ]  # fmt: skip
    services.path_revoke(actor=personas.lee, path=made[4], reason="Replaced.", now=NOW)
    later = NOW + dt.timedelta(days=200)  # reviews overdue or lapsed by then
    for now in (NOW, later):
        qs = path_queryset(actor=personas.sam, now=now).order_by("created_at", "id")
        rows = page_json(list(page_values(qs)), now=now)
        assert [row["id"] for row in rows] == [str(path.pk) for path in qs]
        assert rows == [AccessPathSerializer(path).data for path in qs]
    statuses = {row["status"] for row in rows}
    assert {"lapsed", "unowned", "awaiting_source"} <= statuses


def test_an_empty_page_reads_nothing(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert page_json([]) == []
