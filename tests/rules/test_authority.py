"""Who approved a path's authority and who may revoke it (issue 11, part 4): the
approval rules of registration and edits, revoker teams in the revoke permission, the
API's fields and the registry import format, all audited as path changes."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from registry import services
from registry.importers.registry_format import read_csv
from registry.models import AccessPath, AuditEvent
from registry.rules import errors, permissions
from registry.rules.errors import Invalid, NotAllowed
from registry.services.imports import paths_import
from tests.conftest import NOW, path_data

pytestmark = pytest.mark.django_db

DAY = dt.timedelta(days=1)
APPROVAL_TICKET = "https://tickets.example.com/browse/SEC-4242"


def register(personas, **overrides) -> AccessPath:
    return services.path_register(
        actor=personas.system, data=path_data(external_id="auth-1", **overrides), now=NOW
    )


def field_errors(exc: pytest.ExceptionInfo) -> dict:
    return exc.value.errors


# --- registering ---------------------------------------------------------------------


@pytest.mark.parametrize("tier", ["high", "critical"])
@pytest.mark.parametrize("missing", ["approved_by", "approved_by_team"])
def test_an_owned_high_risk_path_needs_its_approver(personas, tier, missing):
    with pytest.raises(Invalid) as exc:
        register(personas, owner_team=personas.teams.payments, risk_tier=tier, **{missing: None})
    assert field_errors(exc)[missing] == [errors.APPROVER_REQUIRED]
    assert not AccessPath.objects.exists()


def test_a_low_risk_or_unowned_path_needs_no_approver(personas):
    register(personas, owner_team=personas.teams.payments, risk_tier="medium")
    unowned = services.path_register(
        actor=personas.system,
        data=path_data(external_id="discovered", justification="", ticket_url=""),
        now=NOW,
    )
    assert unowned.approved_by == "" and unowned.state == AccessPath.State.UNOWNED


def test_an_approver_without_a_date_was_approved_now_and_is_audited(personas):
    path = register(
        personas,
        owner_team=personas.teams.payments,
        approval_ticket_url=APPROVAL_TICKET,
        revoker_teams=[personas.teams.security, personas.teams.data],
    )
    assert (path.approved_by, path.approved_by_team, path.approved_at) == (
        "lee",
        personas.teams.payments,
        NOW,
    )
    event = AuditEvent.objects.get(path=path, action="access_path.registered")
    assert event.changes["approved_by"] == [None, "lee"]
    assert event.changes["approved_by_team"] == [None, "payments"]
    assert event.changes["approval_ticket_url"] == [None, APPROVAL_TICKET]
    assert event.changes["revoker_teams"] == [None, ["data", "security"]]


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"approved_at": NOW + DAY}, "approved_at", errors.APPROVED_AT_IN_FUTURE),
        ({"approval_ticket_url": "ftp://x.example.com/1"}, "approval_ticket_url", None),
        ({"approved_by": "AKIAIOSFODNN7EXAMPLE wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"},
         "approved_by", None),
    ],
)  # fmt: skip
def test_bad_approval_values_name_their_field(personas, values, field, message):
    with pytest.raises(Invalid) as exc:
        register(personas, owner_team=personas.teams.payments, **values)
    assert field in field_errors(exc)
    if message:
        assert message in field_errors(exc)[field]


def test_an_inactive_team_cannot_approve_or_revoke(personas):
    services.team_deactivate(
        actor=personas.system, team=personas.teams.growth, reason="Team dissolved.", now=NOW
    )
    personas.teams.growth.refresh_from_db()
    with pytest.raises(Invalid) as exc:
        register(
            personas, owner_team=personas.teams.payments, approved_by_team=personas.teams.growth
        )
    assert field_errors(exc)["approved_by_team"] == [errors.TEAM_INACTIVE]
    with pytest.raises(Invalid) as exc:
        register(
            personas, owner_team=personas.teams.payments, revoker_teams=[personas.teams.growth]
        )
    assert field_errors(exc)["revoker_teams"] == [errors.TEAM_INACTIVE]


# --- editing -------------------------------------------------------------------------


def test_raising_the_tier_or_clearing_the_approver_asks_for_one(personas, make_path):
    medium = make_path(risk_tier="medium")
    with pytest.raises(Invalid) as exc:
        services.path_update(
            actor=personas.pat, path=medium, changes={"risk_tier": "critical"}, now=NOW
        )
    assert set(field_errors(exc)) == {"approved_by", "approved_by_team"}
    high = make_path()
    with pytest.raises(Invalid) as exc:
        services.path_update(actor=personas.pat, path=high, changes={"approved_by": ""}, now=NOW)
    assert field_errors(exc) == {"approved_by": [errors.APPROVER_REQUIRED]}
    # Other edits of an unapproved legacy row do not ask (the posture rule flags it).
    AccessPath.objects.filter(pk=high.pk).update(approved_by="")
    services.path_update(
        actor=personas.pat, path=high, changes={"consumers": "billing-export"}, now=NOW
    )


def test_a_new_approver_is_dated_and_audited_with_the_revokers(personas, make_path):
    path = make_path()
    later = NOW + 3 * DAY
    services.path_update(
        actor=personas.lee,
        path=path,
        changes={"approved_by": "sam", "revoker_teams": [personas.teams.security]},
        now=later,
    )
    path.refresh_from_db()
    assert (path.approved_by, path.approved_at) == ("sam", later)
    event = AuditEvent.objects.filter(path=path, action="access_path.updated").get()
    assert event.changes["approved_by"] == ["lee", "sam"]
    assert event.changes["revoker_teams"] == [[], ["security"]]
    # The same revokers again: nothing written, nothing audited.
    version = path.version
    services.path_update(
        actor=personas.lee, path=path, changes={"revoker_teams": [personas.teams.security]}
    )
    path.refresh_from_db()
    assert path.version == version


# --- who may revoke --------------------------------------------------------------------


def test_a_revoker_team_may_revoke_and_others_may_not(personas, make_path):
    path = make_path()
    assert permissions.refuse_revoke(personas.dana, path) == errors.NOT_A_MEMBER
    with pytest.raises(NotAllowed):
        services.path_revoke(actor=personas.dana, path=path, reason="The job was retired.")
    services.path_update(
        actor=personas.lee, path=path, changes={"revoker_teams": [personas.teams.data]}, now=NOW
    )
    path = AccessPath.objects.get(pk=path.pk)
    assert permissions.refuse_revoke(personas.dana, path) is None
    assert permissions.refuse_revoke(personas.otto, path) == errors.OUTSIDER
    # Tokens never revoke, even of a revoker team.
    assert permissions.refuse_revoke(personas.payments_ci, path) == errors.HUMAN_REQUIRED
    services.path_revoke(actor=personas.dana, path=path, reason="The job was retired.", now=NOW)
    assert AccessPath.objects.get(pk=path.pk).state == AccessPath.State.REVOKED


def test_a_revoker_team_sees_the_path_and_revokes_it_through_the_api(personas, make_path):
    path = make_path()
    dana = APIClient()
    dana.force_login(personas.users.dana)  # data: neither owner nor steward
    url = f"/api/v1/access-paths/{path.pk}/"
    assert dana.get(url).status_code == 404
    services.path_update(
        actor=personas.lee, path=path, changes={"revoker_teams": [personas.teams.data]}, now=NOW
    )
    assert dana.get(url).status_code == 200
    listed = dana.get("/api/v1/access-paths/").json()["results"]
    assert [p["id"] for p in listed].count(str(path.pk)) == 1  # no duplicate from the join
    response = dana.post(f"{url}revoke/", {"reason": "Leaked in a build log."}, format="json")
    assert response.status_code == 200, response.json()
    assert AccessPath.objects.get(pk=path.pk).state == AccessPath.State.REVOKED


# --- the API ---------------------------------------------------------------------------


@pytest.fixture
def api(personas) -> APIClient:
    client = APIClient()
    client.force_login(personas.users.lee)
    return client


def test_api_creates_with_approval_and_revokers_and_shows_them(api, personas):
    body = path_data(external_id="api-auth", owner_team="payments") | {
        "approved_by": "lee",
        "approved_by_team": "payments",
        "approved_at": "2026-11-20T09:00:00Z",
        "approval_ticket_url": APPROVAL_TICKET,
        "revoker_teams": ["security"],
        "iam_team": "security",
    }
    response = api.post(reverse("access-path-list"), body, format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["approval"] == {
        "by": "lee",
        "team": "payments",
        "at": "2026-11-20T09:00:00Z",
        "ticket_url": APPROVAL_TICKET,
    }
    assert data["revoker_teams"] == ["security"]
    assert data["control_point_owners"] == {
        "iam": {"team": "security", "source": "path"},
        "pam": {"team": None, "source": None},
        "runtime": {"team": None, "source": None},
        "secops": {"team": None, "source": None},
    }


def test_api_refuses_a_missing_approver_naming_the_field(api):
    body = path_data(external_id="api-auth", owner_team="payments") | {"approved_by": ""}
    response = api.post(reverse("access-path-list"), body, format="json")
    assert response.status_code == 400
    assert "approved_by" in json.dumps(response.json())
    assert not AccessPath.objects.exists()


def test_api_patch_sets_revokers_and_an_unknown_team_is_a_400(api, personas, make_path):
    path = make_path()
    url = reverse("access-path-detail", args=[path.pk])
    response = api.patch(url, {"revoker_teams": ["data", "security"]}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["revoker_teams"] == ["data", "security"]
    response = api.patch(url, {"revoker_teams": ["nope"]}, format="json")
    assert response.status_code == 400
    assert "revoker_teams" in json.dumps(response.json())


def test_an_outsider_gets_404_for_the_path(personas, make_path):
    path = make_path()
    client = APIClient()
    client.force_login(personas.users.otto)
    url = reverse("access-path-detail", args=[path.pk])
    assert client.patch(url, {"approved_by": "otto"}, format="json").status_code == 404


# --- the registry import format ----------------------------------------------------------


def test_registry_csv_import_sets_approval_control_points_and_revokers(personas):
    text = (
        "name,kind,system,external_id,environment,owner_team,justification,ticket_url,"
        "risk_tier,approved_by,approved_by_team,approved_at,iam_team,revoker_teams\n"
        f"imp-1,service_account,aws,imp-1,prod,payments,{path_data()['justification']},"
        f"{path_data()['ticket_url']},critical,lee,payments,2026-11-01,security,"
        "data security\n"
    )
    report = paths_import(
        actor=personas.sam,
        rows=read_csv(io.BytesIO(text.encode())),
        source_format="csv",
        file_name="authority.csv",
        now=NOW,
    )
    assert report.applied, report.errors
    path = AccessPath.objects.get(external_id="imp-1")
    assert (path.approved_by, path.approved_by_team.slug, path.iam_team.slug) == (
        "lee",
        "payments",
        "security",
    )
    assert path.approved_at == dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    assert sorted(path.revoker_teams.values_list("slug", flat=True)) == ["data", "security"]


def test_registry_import_without_an_approver_fails_the_row(personas):
    text = (
        "name,kind,system,external_id,environment,owner_team,justification,ticket_url,"
        "risk_tier\n"
        f"imp-2,service_account,aws,imp-2,prod,payments,{path_data()['justification']},"
        f"{path_data()['ticket_url']},high\n"
    )
    report = paths_import(
        actor=personas.sam,
        rows=read_csv(io.BytesIO(text.encode())),
        source_format="csv",
        file_name="authority.csv",
        now=NOW,
    )
    assert not report.applied
    assert "approved_by" in json.dumps(report.errors)
