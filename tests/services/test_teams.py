"""Teams (registry.services.teams): security runs the teams; a team that is inactive
leaves its paths lapsed (NHI1 improper offboarding)."""

from __future__ import annotations

import pytest

from registry import services
from registry.models import Team
from registry.rules import errors
from registry.rules.errors import Invalid, InvalidTransition, NotAllowed
from tests.assertions import audit_write_fails, last_event, records, refused, snapshot
from tests.conftest import NOW
from tests.services.teams_helpers import (
    LATER,
    NEW_TEAM,
    NON_ADMINS,
    NOT_PAYMENTS_LEADS,
    OFFBOARD,
    actor_named,
    fresh,
    status_of,
)

pytestmark = pytest.mark.django_db

# --- team_create --------------------------------------------------------------------


@pytest.mark.parametrize("who", ["sam", "system"])
def test_create_team(personas, who):
    with records("team.created"):
        team = services.team_create(actor=getattr(personas, who), data=NEW_TEAM, now=NOW)
    team.refresh_from_db()
    assert (team.slug, team.name, team.kind, team.email) == (
        "commerce",
        "Commerce",
        "product",
        "c@example.com",
    )
    assert team.is_active
    assert team.created_at == NOW
    assert last_event().changes["slug"] == [None, "commerce"]


def test_create_team_with_parent(personas):
    team = services.team_create(
        actor=personas.sam, data=NEW_TEAM | {"parent": personas.teams.payments}, now=NOW
    )
    assert team.parent == personas.teams.payments
    assert last_event().changes["parent"] == [None, "payments"]


@pytest.mark.parametrize("who", NON_ADMINS)
def test_create_team_refused(personas, who):
    with refused(NotAllowed, errors.NOT_A_SECURITY_REVIEWER):
        services.team_create(actor=actor_named(personas, who), data=NEW_TEAM, now=NOW)


@pytest.mark.parametrize("field", ["is_active", "id", "members"])
def test_create_team_refuses_unknown_fields(personas, field):
    with refused(Invalid, errors.UNKNOWN_FIELD) as exc:
        services.team_create(actor=personas.sam, data=NEW_TEAM | {field: True}, now=NOW)
    assert exc.value.errors == {field: [errors.UNKNOWN_FIELD]}


def test_create_team_with_a_taken_slug_is_refused(personas):
    with refused(Invalid, errors.SLUG_TAKEN) as exc:
        services.team_create(actor=personas.sam, data=NEW_TEAM | {"slug": "payments"}, now=NOW)
    assert exc.value.field == "slug"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("kind", "guild"),
        ("slug", "Com merce"),
        ("email", "not-an-email"),
        ("slack_webhook_url", "javascript:alert(1)"),
    ],
)
def test_create_team_refuses_invalid_values(personas, field, value):
    with refused(Invalid) as exc:
        services.team_create(actor=personas.sam, data=NEW_TEAM | {field: value}, now=NOW)
    assert list(exc.value.errors) == [field]


def test_create_team_refuses_secret_in_name(personas):
    message = errors.LOOKS_LIKE_SECRET.format(kind="GitHub token")
    with refused(Invalid, message) as exc:
        services.team_create(
            actor=personas.sam, data=NEW_TEAM | {"name": "ghp_" + "Z9y" * 12}, now=NOW
        )
    assert exc.value.errors == {"name": [message]}


# --- team_update --------------------------------------------------------------------

CONTACT = {"name": "Payments & Billing", "email": "billing@example.com"}


@pytest.mark.parametrize("who", ["lee", "sam", "system"])
def test_update_team_contact_details(personas, who):
    with records("team.updated"):
        team = services.team_update(
            actor=getattr(personas, who), team=personas.teams.payments, changes=CONTACT, now=LATER
        )
    team.refresh_from_db()
    assert (team.name, team.email) == ("Payments & Billing", "billing@example.com")
    assert team.updated_at == LATER
    assert last_event().changes == {
        "name": ["Payments", "Payments & Billing"],
        "email": ["payments@example.com", "billing@example.com"],
    }


@pytest.mark.parametrize("who", ["sam", "system"])
def test_security_updates_slug_kind_and_parent(personas, who):
    changes = {"slug": "billing", "kind": "platform", "parent": personas.teams.platform}
    services.team_update(
        actor=getattr(personas, who), team=personas.teams.payments, changes=changes, now=LATER
    )
    team = Team.objects.get(pk=personas.teams.payments.pk)
    assert (team.slug, team.kind, team.parent) == ("billing", "platform", personas.teams.platform)


@pytest.mark.parametrize(("who", "message"), NOT_PAYMENTS_LEADS)
def test_update_team_refused(personas, who, message):
    with refused(NotAllowed, message):
        services.team_update(
            actor=actor_named(personas, who),
            team=personas.teams.payments,
            changes=CONTACT,
            now=LATER,
        )


@pytest.mark.parametrize(
    ("field", "value"),
    [("slug", "billing"), ("kind", "security"), ("parent", None), ("is_active", False)],
)
def test_lead_cannot_change_what_shapes_permissions(personas, field, value):
    with refused(Invalid, errors.UNKNOWN_FIELD) as exc:
        services.team_update(
            actor=personas.lee, team=personas.teams.payments, changes={field: value}, now=LATER
        )
    assert exc.value.errors == {field: [errors.UNKNOWN_FIELD]}


def test_update_team_that_changes_nothing_writes_nothing(personas):
    before = snapshot()
    services.team_update(
        actor=personas.lee, team=personas.teams.payments, changes={"name": "Payments"}, now=LATER
    )
    assert snapshot() == before


def test_update_team_refuses_invalid_email(personas):
    with refused(Invalid) as exc:
        services.team_update(
            actor=personas.lee, team=personas.teams.payments, changes={"email": "x@"}, now=LATER
        )
    assert list(exc.value.errors) == ["email"]


def test_update_team_refuses_secret_in_name(personas):
    message = errors.LOOKS_LIKE_SECRET.format(kind="AWS access key id")
    with refused(Invalid, message):
        services.team_update(
            actor=personas.lee,
            team=personas.teams.payments,
            changes={"name": "Payments AKIAIOSFODNN7EXAMPLE"},
            now=LATER,
        )


def test_update_team_to_a_taken_slug_is_refused(personas):
    with refused(Invalid, errors.SLUG_TAKEN) as exc:
        services.team_update(
            actor=personas.sam, team=personas.teams.growth, changes={"slug": "payments"}, now=LATER
        )
    assert exc.value.field == "slug"


def test_team_cannot_be_its_own_parent(personas):
    growth = personas.teams.growth
    with refused(Invalid) as exc:
        services.team_update(actor=personas.sam, team=growth, changes={"parent": growth}, now=LATER)
    assert exc.value.field == "parent"


# --- team_deactivate / team_reactivate ----------------------------------------------


@pytest.mark.parametrize("who", ["sam", "system"])
def test_deactivate_team_lapses_its_paths(personas, path, who):
    assert status_of(personas, path) == "active"
    with records("team.deactivated"):
        team = services.team_deactivate(
            actor=getattr(personas, who), team=personas.teams.payments, reason=OFFBOARD, now=LATER
        )
    assert team.is_active is False
    assert Team.objects.get(slug="payments").is_active is False
    assert last_event().changes == {"is_active": [True, False]}
    assert last_event().reason == OFFBOARD
    assert status_of(personas, path) == "lapsed"
    assert status_of(personas, path, NOW) == "lapsed"


def test_members_of_a_deactivated_team_act_for_nobody(personas, path):
    services.team_deactivate(
        actor=personas.sam, team=personas.teams.payments, reason=OFFBOARD, now=LATER
    )
    with refused(NotAllowed, errors.OUTSIDER):
        services.path_update(
            actor=fresh(personas.users.pat), path=path, changes={"consumers": "x"}, now=LATER
        )


def test_deactivating_a_team_leaves_other_teams_paths_alone(personas, make_path, path):
    data_path = make_path(owner_team=personas.teams.data, actor=personas.dana)
    services.team_deactivate(
        actor=personas.sam, team=personas.teams.payments, reason=OFFBOARD, now=LATER
    )
    assert status_of(personas, data_path) == "active"


@pytest.mark.parametrize("who", NON_ADMINS)
def test_deactivate_team_refused(personas, path, who):
    with refused(NotAllowed, errors.NOT_A_SECURITY_REVIEWER):
        services.team_deactivate(
            actor=actor_named(personas, who),
            team=personas.teams.payments,
            reason=OFFBOARD,
            now=LATER,
        )
    assert status_of(personas, path) == "active"


@pytest.mark.parametrize("reason", ["", "   "])
def test_deactivate_team_requires_a_reason(personas, reason):
    with refused(Invalid, errors.REQUIRED) as exc:
        services.team_deactivate(
            actor=personas.sam, team=personas.teams.payments, reason=reason, now=LATER
        )
    assert exc.value.field == "reason"


def test_deactivating_twice_is_refused(personas):
    services.team_deactivate(
        actor=personas.sam, team=personas.teams.payments, reason=OFFBOARD, now=LATER
    )
    with refused(InvalidTransition, errors.TEAM_ALREADY_INACTIVE):
        services.team_deactivate(
            actor=personas.sam, team=personas.teams.payments, reason=OFFBOARD, now=LATER
        )


@pytest.fixture
def inactive_payments(personas) -> Team:
    return services.team_deactivate(
        actor=personas.sam, team=personas.teams.payments, reason=OFFBOARD, now=NOW
    )


@pytest.mark.parametrize("who", ["sam", "system"])
def test_reactivate_team(personas, path, inactive_payments, who):
    with records("team.reactivated"):
        team = services.team_reactivate(
            actor=getattr(personas, who),
            team=inactive_payments,
            reason="The merger was called off.",
            now=LATER,
        )
    assert team.is_active is True
    assert last_event().changes == {"is_active": [False, True]}
    assert status_of(personas, path) == "active"


@pytest.mark.parametrize("who", NON_ADMINS)
def test_reactivate_team_refused(personas, inactive_payments, who):
    with refused(NotAllowed, errors.NOT_A_SECURITY_REVIEWER):
        services.team_reactivate(
            actor=actor_named(personas, who),
            team=inactive_payments,
            reason="The merger was called off.",
            now=LATER,
        )


def test_reactivate_team_requires_a_reason(personas, inactive_payments):
    with refused(Invalid, errors.REQUIRED):
        services.team_reactivate(actor=personas.sam, team=inactive_payments, reason="", now=LATER)


def test_reactivating_an_active_team_is_refused(personas):
    with refused(InvalidTransition, errors.TEAM_ALREADY_ACTIVE):
        services.team_reactivate(
            actor=personas.sam, team=personas.teams.payments, reason="Back again.", now=LATER
        )


# --- atomicity ----------------------------------------------------------------------


def test_deactivate_rolls_back_when_audit_write_fails(personas, path):
    before = snapshot()
    with audit_write_fails():
        services.team_deactivate(
            actor=personas.sam, team=personas.teams.payments, reason=OFFBOARD, now=LATER
        )
    assert snapshot() == before
    assert Team.objects.get(slug="payments").is_active
    assert status_of(personas, path) == "active"


def test_team_create_rolls_back_when_audit_write_fails(personas):
    with audit_write_fails():
        services.team_create(actor=personas.sam, data=NEW_TEAM, now=NOW)
    assert not Team.objects.filter(slug="commerce").exists()
