"""Teams and memberships: security runs the teams, leads run their team's members, and
a team that is inactive or empty leaves its paths lapsed (NHI1 improper offboarding)."""

from __future__ import annotations

import datetime as dt

import pytest

from registry import services
from registry.audit import verify_chain
from registry.models import (
    AccessPath,
    Membership,
    Team,
)
from registry.rules import errors
from registry.rules.actors import Actor
from registry.rules.errors import Invalid, InvalidTransition, NotAllowed
from registry.selectors import path_get
from tests.assertions import audit_write_fails, last_event, records, refused, snapshot
from tests.conftest import NOW

pytestmark = pytest.mark.django_db

DAY = dt.timedelta(days=1)
LATER = NOW + DAY
OFFBOARD = "Payments merged into the commerce team (ORG-77)."
NEW_TEAM = {"slug": "commerce", "name": "Commerce", "kind": "product", "email": "c@example.com"}
CHOOSE_A_ROLE = "Choose one of: member, lead."


# --- helpers ------------------------------------------------------------------------


def status_of(personas, path: AccessPath, now: dt.datetime = LATER) -> str:
    return path_get(actor=personas.sam, path_id=path.pk, now=now).status


def fresh(user) -> Actor:
    """A new request's actor: roles read again after memberships changed."""
    return Actor.for_user(user)


def actor_named(personas, who: str) -> Actor:
    if who == "gwen":  # growth's lead: a lead, but of another team
        return fresh(personas.users.gwen)
    if who == "security_ci":  # a token of the security team is still not a person
        return Actor.integration(personas.teams.security, token_id="tok_sec", name="scanner")
    return getattr(personas, who)


def membership(personas, user: str, team: str = "payments") -> Membership:
    return Membership.objects.get(
        user=getattr(personas.users, user),
        team=getattr(personas.teams, team),
        ended_at__isnull=True,
    )


NON_ADMINS = ["pat", "lee", "dana", "otto", "gwen", "payments_ci", "security_ci"]
# Who may not manage payments' details and members, and why.
NOT_PAYMENTS_LEADS = [
    ("pat", errors.NOT_A_LEAD),
    ("dana", errors.NOT_A_LEAD),
    ("otto", errors.NOT_A_LEAD),
    ("gwen", errors.NOT_A_LEAD),
    ("payments_ci", errors.HUMAN_REQUIRED),
    ("security_ci", errors.HUMAN_REQUIRED),
]


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


# --- membership_add -----------------------------------------------------------------


@pytest.mark.parametrize("who", ["lee", "sam", "system"])
@pytest.mark.parametrize("role", ["member", "lead"])
def test_add_member(personas, path, who, role):
    otto = personas.users.otto
    with records("membership.added"):
        added = services.membership_add(
            actor=getattr(personas, who),
            team=personas.teams.payments,
            user=otto,
            role=role,
            now=LATER,
        )
    assert (added.team, added.user, added.role) == (personas.teams.payments, otto, role)
    assert added.started_at == LATER
    assert added.ended_at is None
    assert last_event().changes == {
        "team": [None, "payments"],
        "user": [None, "otto"],
        "role": [None, role],
    }
    # otto now answers for payments' paths.
    services.path_update(actor=fresh(otto), path=path, changes={"consumers": "cron"}, now=LATER)


@pytest.mark.parametrize(("who", "message"), NOT_PAYMENTS_LEADS)
def test_add_member_refused(personas, who, message):
    with refused(NotAllowed, message):
        services.membership_add(
            actor=actor_named(personas, who),
            team=personas.teams.payments,
            user=personas.users.otto,
            now=LATER,
        )


def test_lead_cannot_add_members_to_another_team(personas):
    with refused(NotAllowed, errors.NOT_A_LEAD):
        services.membership_add(
            actor=personas.lee, team=personas.teams.security, user=personas.users.lee, now=LATER
        )


def test_adding_a_current_member_is_refused(personas):
    with refused(InvalidTransition, errors.ALREADY_MEMBER):
        services.membership_add(
            actor=personas.lee, team=personas.teams.payments, user=personas.users.pat, now=LATER
        )


@pytest.mark.parametrize("role", ["owner", "", "LEAD"])
def test_add_member_with_an_unknown_role_is_refused(personas, role):
    with refused(Invalid, CHOOSE_A_ROLE) as exc:
        services.membership_add(
            actor=personas.lee,
            team=personas.teams.payments,
            user=personas.users.otto,
            role=role,
            now=LATER,
        )
    assert exc.value.field == "role"


def test_a_former_member_can_be_added_again(personas):
    services.membership_end(
        actor=personas.lee, membership=membership(personas, "pat"), reason="Moved.", now=NOW
    )
    again = services.membership_add(
        actor=personas.lee, team=personas.teams.payments, user=personas.users.pat, now=LATER
    )
    assert again.ended_at is None
    rows = Membership.objects.filter(user=personas.users.pat, team=personas.teams.payments)
    assert rows.count() == 2


# --- membership_set_role ------------------------------------------------------------


@pytest.mark.parametrize("who", ["lee", "sam", "system"])
def test_promote_member_to_lead(personas, path, who):
    pats = membership(personas, "pat")
    with records("membership.role_changed"):
        changed = services.membership_set_role(
            actor=getattr(personas, who), membership=pats, role="lead", now=LATER
        )
    assert changed.role == "lead"
    assert membership(personas, "pat").role == "lead"
    assert last_event().changes == {"role": ["member", "lead"]}
    # As a lead, pat may now hand the path over.
    services.path_transfer(
        actor=fresh(personas.users.pat),
        path=path,
        to_team=personas.teams.data,
        reason="Data runs the export now.",
        now=LATER,
    )


def test_demote_a_lead(personas):
    services.membership_set_role(
        actor=personas.sam, membership=membership(personas, "lee"), role="member", now=LATER
    )
    assert membership(personas, "lee").role == "member"


@pytest.mark.parametrize(("who", "message"), NOT_PAYMENTS_LEADS)
def test_set_role_refused(personas, who, message):
    with refused(NotAllowed, message):
        services.membership_set_role(
            actor=actor_named(personas, who),
            membership=membership(personas, "pat"),
            role="lead",
            now=LATER,
        )


def test_setting_the_same_role_writes_nothing(personas):
    before = snapshot()
    services.membership_set_role(
        actor=personas.lee, membership=membership(personas, "pat"), role="member", now=LATER
    )
    assert snapshot() == before


def test_set_role_on_an_ended_membership_is_refused(personas):
    pats = membership(personas, "pat")
    services.membership_end(actor=personas.lee, membership=pats, reason="Moved.", now=NOW)
    with refused(InvalidTransition, errors.MEMBERSHIP_ENDED):
        services.membership_set_role(actor=personas.lee, membership=pats, role="lead", now=LATER)


def test_set_an_unknown_role_is_refused(personas):
    with refused(Invalid, CHOOSE_A_ROLE):
        services.membership_set_role(
            actor=personas.lee, membership=membership(personas, "pat"), role="owner", now=LATER
        )


# --- membership_end -----------------------------------------------------------------

LEFT = "Moved to the data team."


@pytest.mark.parametrize("who", ["lee", "sam", "system", "pat"])
def test_end_membership(personas, path, who):
    pats = membership(personas, "pat")
    with records("membership.ended"):
        ended = services.membership_end(
            actor=getattr(personas, who), membership=pats, reason=LEFT, now=LATER
        )
    assert ended.ended_at == LATER
    pats.refresh_from_db()
    assert pats.ended_at == LATER
    assert last_event().changes == {"ended_at": [None, LATER.isoformat()]}
    assert last_event().reason == LEFT
    # pat is in no team any more; lee still is, so the path stays accountable.
    with refused(NotAllowed, errors.OUTSIDER):
        services.path_update(
            actor=fresh(personas.users.pat), path=path, changes={"consumers": "x"}, now=LATER
        )
    assert status_of(personas, path) == "active"


@pytest.mark.parametrize(
    ("who", "whose", "message"),
    [
        ("pat", "lee", errors.NOT_A_LEAD),
        ("dana", "pat", errors.NOT_A_LEAD),
        ("otto", "pat", errors.NOT_A_LEAD),
        ("gwen", "pat", errors.NOT_A_LEAD),
        ("payments_ci", "pat", errors.HUMAN_REQUIRED),
        ("security_ci", "pat", errors.HUMAN_REQUIRED),
    ],
)
def test_end_membership_refused(personas, who, whose, message):
    with refused(NotAllowed, message):
        services.membership_end(
            actor=actor_named(personas, who),
            membership=membership(personas, whose),
            reason=LEFT,
            now=LATER,
        )


@pytest.mark.parametrize(("who", "whose"), [("lee", "pat"), ("pat", "pat")])
def test_end_membership_requires_a_reason(personas, who, whose):
    with refused(Invalid, errors.REQUIRED) as exc:
        services.membership_end(
            actor=getattr(personas, who),
            membership=membership(personas, whose),
            reason=" ",
            now=LATER,
        )
    assert exc.value.field == "reason"


def test_ending_a_membership_twice_is_refused(personas):
    pats = membership(personas, "pat")
    services.membership_end(actor=personas.lee, membership=pats, reason=LEFT, now=NOW)
    with refused(InvalidTransition, errors.MEMBERSHIP_ENDED):
        services.membership_end(actor=personas.lee, membership=pats, reason=LEFT, now=LATER)


def test_ending_the_last_membership_lapses_the_teams_paths(personas, make_path):
    data_path = make_path(owner_team=personas.teams.data, actor=personas.dana)
    assert status_of(personas, data_path) == "active"
    with records("membership.ended"):
        services.membership_end(
            actor=personas.dana,
            membership=membership(personas, "dana", "data"),
            reason=LEFT,
            now=LATER,
        )
    assert status_of(personas, data_path) == "lapsed"


def test_emptying_a_team_one_by_one_lapses_its_paths_at_the_last(personas, path):
    services.membership_end(
        actor=personas.lee, membership=membership(personas, "pat"), reason=LEFT, now=LATER
    )
    assert status_of(personas, path) == "active"
    services.membership_end(
        actor=personas.lee, membership=membership(personas, "lee"), reason=LEFT, now=LATER
    )
    assert status_of(personas, path) == "lapsed"


def test_adding_a_member_to_an_empty_team_makes_its_paths_accountable_again(personas, make_path):
    data_path = make_path(owner_team=personas.teams.data, actor=personas.dana)
    services.membership_end(
        actor=personas.dana, membership=membership(personas, "dana", "data"), reason=LEFT, now=NOW
    )
    services.membership_add(
        actor=personas.sam, team=personas.teams.data, user=personas.users.otto, now=NOW
    )
    assert status_of(personas, data_path) == "active"


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


def test_membership_end_rolls_back_when_audit_write_fails(personas):
    before = snapshot()
    with audit_write_fails():
        services.membership_end(
            actor=personas.lee, membership=membership(personas, "pat"), reason=LEFT, now=LATER
        )
    assert snapshot() == before
    assert membership(personas, "pat").ended_at is None
    assert verify_chain().intact


def test_team_create_rolls_back_when_audit_write_fails(personas):
    with audit_write_fails():
        services.team_create(actor=personas.sam, data=NEW_TEAM, now=NOW)
    assert not Team.objects.filter(slug="commerce").exists()
