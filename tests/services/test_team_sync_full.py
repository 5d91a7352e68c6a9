"""`manage.py import_teams --full-sync`: the file is the whole truth for the teams the
importer manages; what it no longer lists is ended, and teams it no longer lists are
offboarded (their paths lapse); security teams and people's own decisions are kept."""

from __future__ import annotations

import pytest
from django.core.management import CommandError

from registry import services
from registry.models import Membership, Team
from tests.assertions import snapshot
from tests.conftest import NOW
from tests.services.team_sync_helpers import (
    PERSONA_TEAMS,
    catalog,
    group,
    importer_events,
    members,
    run,
    status_of,
    team,
    user,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def imported(personas, tmp_path):
    """Two imported teams: payments-api (ana, ben) and ledger (ana)."""
    run(
        catalog(
            tmp_path,
            group("payments-api", members=["ana", "ben"]),
            group("ledger", members=["ana"]),
            user("ana"),
            user("ben"),
            name="v1.yaml",
        )
    )
    return tmp_path


def test_without_full_sync_nothing_is_ended_or_deactivated(imported, personas):
    out = run(catalog(imported, group("payments-api", members=["ana"]), user("ana"), user("ben")))

    assert team("ledger").is_active
    assert members("payments-api") == {"ana": "member", "ben": "member"}
    assert "0 ended" in out
    assert "0 deactivated" in out


def test_full_sync_deactivates_an_imported_team_missing_from_the_file_its_paths_lapse(
    imported, personas, make_path
):
    ledger_path = make_path(owner_team=team("ledger"))
    api_path = make_path(owner_team=team("payments-api"))
    payments_path = make_path()
    assert status_of(personas, ledger_path) == "active"

    out = run(
        catalog(imported, group("payments-api", members=["ana", "ben"]), user("ana"), user("ben")),
        "--full-sync",
    )

    assert not team("ledger").is_active
    assert status_of(personas, ledger_path) == "lapsed"
    assert status_of(personas, api_path) == "active"
    # teams the importer never wrote to are not its to offboard
    assert Team.objects.filter(slug__in=PERSONA_TEAMS, is_active=True).count() == 5
    assert status_of(personas, payments_path) == "active"
    event = importer_events().get(action="team.deactivated")
    assert event.object_id == str(team("ledger").pk)
    assert "full sync" in event.reason
    assert "Teams that were deactivated (their paths lapse): ledger" in out
    # the memberships of a deactivated team are left as they are
    assert members("ledger") == {"ana": "member"}


def test_full_sync_ends_memberships_removed_from_the_catalog(imported, personas, make_path):
    api_path = make_path(owner_team=team("payments-api"))

    out = run(
        catalog(
            imported,
            group("payments-api", members=["ana"]),
            group("ledger", members=["ana"]),
            user("ana"),
        ),
        "--full-sync",
    )

    assert members("payments-api") == {"ana": "member"}
    assert members("ledger") == {"ana": "member"}
    assert "payments-api:ben" in out
    ended = Membership.objects.get(team__slug="payments-api", user__username="ben")
    assert ended.ended_at is not None
    assert importer_events().filter(action="membership.ended").count() == 1
    assert status_of(personas, api_path) == "active"

    # emptying a team makes its paths lapse
    run(catalog(imported, group("payments-api"), user("ana", "ledger")), "--full-sync")

    assert members("payments-api") == {}
    assert members("ledger") == {"ana": "member"}  # through User.spec.memberOf
    assert status_of(personas, api_path) == "lapsed"


def test_full_sync_ends_memberships_in_an_adopted_team_but_keeps_roles(personas, tmp_path):
    path = catalog(tmp_path, group("payments", members=["lee", "pat", "ana"]), user("ana"))

    out = run(path)

    # found by slug: the persona team is updated, lee stays lead, ana is added
    assert members("payments") == {"lee": "lead", "pat": "member", "ana": "member"}
    assert "Teams: 0 created, 1 updated" in out  # its name follows the file
    assert team("payments").name == "payments"

    run(catalog(tmp_path, group("payments", members=["lee"]), user("ana")), "--full-sync")

    assert members("payments") == {"lee": "lead"}


def test_a_full_sync_of_a_file_without_teams_is_refused(imported, personas):
    before = snapshot()

    with pytest.raises(CommandError, match="The file lists no teams"):
        run(catalog(imported, user("ana"), name="users-only.yaml"), "--full-sync")

    assert snapshot() == before


def test_full_sync_never_deactivates_a_security_team(personas, tmp_path):
    run(
        catalog(
            tmp_path, group("security-response", type_="security", members=["ana"]), user("ana")
        )
    )
    assert team("security-response").kind == "security"

    out = run(catalog(tmp_path, group("treasury"), user("ana"), name="v2.yaml"), "--full-sync")

    assert team("security-response").is_active
    assert "team security-response is not in the file but stays active" in out


def test_a_team_the_import_deactivated_is_reactivated_when_listed_again(imported, personas):
    v1 = imported / "v1.yaml"
    run(catalog(imported, group("treasury"), user("ana"), user("ben")), "--full-sync")
    assert not team("ledger").is_active

    out = run(v1)

    assert team("ledger").is_active
    assert team("payments-api").is_active
    assert "Teams: 0 created, 0 updated, 0 unchanged, 2 reactivated, 0 deactivated." in out
    assert "Teams that were reactivated: ledger, payments-api" in out
    assert importer_events().filter(action="team.reactivated").count() == 2
    assert members("ledger") == {"ana": "member"}


def test_a_team_a_person_deactivated_stays_inactive(imported, personas):
    services.team_deactivate(
        actor=personas.sam, team=team("ledger"), reason="Ledger moved to finance (ORG-9).", now=NOW
    )

    out = run(imported / "v1.yaml")

    assert not team("ledger").is_active
    assert "team ledger is inactive (deactivated by sam): left inactive" in out


def test_an_import_never_changes_a_kind_to_or_from_security(personas, tmp_path):
    path = catalog(tmp_path, group("data", type_="security-guild"), group("security"))

    out = run(path)

    assert team("data").kind == "product"
    assert team("security").kind == "security"
    assert "team data keeps its kind 'product'" in out
