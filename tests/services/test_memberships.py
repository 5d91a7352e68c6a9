"""Memberships (registry.services.teams): leads run their team's members, and a team
left empty leaves its paths lapsed (NHI1 improper offboarding)."""

from __future__ import annotations

import pytest

from registry import services
from registry.audit import verify_chain
from registry.models import Membership
from registry.rules import errors
from registry.rules.errors import Invalid, InvalidTransition, NotAllowed
from tests.assertions import audit_write_fails, last_event, records, refused, snapshot
from tests.conftest import NOW
from tests.services.teams_helpers import (
    CHOOSE_A_ROLE,
    LATER,
    NOT_PAYMENTS_LEADS,
    actor_named,
    fresh,
    membership,
    status_of,
)

pytestmark = pytest.mark.django_db

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


def test_membership_end_rolls_back_when_audit_write_fails(personas):
    before = snapshot()
    with audit_write_fails():
        services.membership_end(
            actor=personas.lee, membership=membership(personas, "pat"), reason=LEFT, now=LATER
        )
    assert snapshot() == before
    assert membership(personas, "pat").ended_at is None
    assert verify_chain().intact
