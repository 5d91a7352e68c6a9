"""Transfers (registry.services.ownership): an owner offers a path; the receiving team
accepts or declines."""

from __future__ import annotations

import pytest

from registry import services
from registry.models import Transfer
from registry.rules import errors
from registry.rules.actors import Actor
from registry.rules.errors import Invalid, InvalidTransition, NotAllowed
from tests.assertions import audit_write_fails, last_event, records, refused, snapshot
from tests.conftest import NOW
from tests.services.ownership_helpers import (
    DAY,
    LATER,
    TRANSFER_REASON,
    actor_named,
    offer_to_data,
    status_of,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def transfer(personas, path) -> Transfer:
    return offer_to_data(personas, path)


# --- path_transfer ------------------------------------------------------------------


@pytest.mark.parametrize("who", ["lee", "sam", "system"])
def test_transfer(personas, path, who):
    actor = actor_named(personas, who)
    with records("transfer.requested"):
        result = services.path_transfer(
            actor=actor, path=path, to_team=personas.teams.data, reason=TRANSFER_REASON, now=NOW
        )
    result.refresh_from_db()
    assert result.status == Transfer.Status.PENDING
    assert result.from_team == personas.teams.payments
    assert result.to_team == personas.teams.data
    assert result.requested_by == actor.user
    assert result.reason == TRANSFER_REASON
    path.refresh_from_db()
    assert path.owner_team == personas.teams.payments  # nothing moves until data accepts
    assert path.version == 1
    assert last_event().changes == {
        "from_team": [None, "payments"],
        "to_team": [None, "data"],
        "status": [None, "pending"],
    }


@pytest.mark.parametrize(
    ("who", "message"),
    [
        ("payments_ci", errors.HUMAN_REQUIRED),
        ("otto", errors.OUTSIDER),
        ("pat", errors.NOT_A_LEAD),
        ("dana", errors.NOT_A_LEAD),
        ("gwen", errors.NOT_A_LEAD),
    ],
)
def test_transfer_refused(personas, path, who, message):
    with refused(NotAllowed, message):
        services.path_transfer(
            actor=actor_named(personas, who),
            path=path,
            to_team=personas.teams.data,
            reason=TRANSFER_REASON,
            now=NOW,
        )


def test_transfer_to_the_owning_team_is_refused(personas, path):
    with refused(Invalid, errors.SAME_TEAM) as exc:
        services.path_transfer(
            actor=personas.lee,
            path=path,
            to_team=personas.teams.payments,
            reason=TRANSFER_REASON,
            now=NOW,
        )
    assert exc.value.field == "to_team"


def test_transfer_to_an_inactive_team_is_refused(personas, path):
    growth = personas.teams.growth
    services.team_deactivate(actor=personas.sam, team=growth, reason="Team disbanded.", now=NOW)
    with refused(Invalid, errors.TEAM_INACTIVE) as exc:
        services.path_transfer(
            actor=personas.lee, path=path, to_team=growth, reason=TRANSFER_REASON, now=NOW
        )
    assert exc.value.field == "to_team"


@pytest.mark.parametrize("reason", ["", "   "])
def test_transfer_requires_a_reason(personas, path, reason):
    with refused(Invalid, errors.REQUIRED):
        services.path_transfer(
            actor=personas.lee, path=path, to_team=personas.teams.data, reason=reason, now=NOW
        )


def test_second_pending_transfer_is_refused(personas, path, transfer):
    with refused(InvalidTransition, errors.TRANSFER_ALREADY_PENDING):
        services.path_transfer(
            actor=personas.lee,
            path=path,
            to_team=personas.teams.growth,
            reason=TRANSFER_REASON,
            now=NOW,
        )


def test_transferring_an_unowned_path_is_refused(personas, unowned_path):
    with refused(InvalidTransition, errors.PATH_NOT_OWNED):
        services.path_transfer(
            actor=personas.sam,
            path=unowned_path,
            to_team=personas.teams.data,
            reason=TRANSFER_REASON,
            now=NOW,
        )


def test_transferring_a_revoked_path_is_refused(personas, path):
    services.path_revoke(actor=personas.lee, path=path, reason="Decommissioned.", now=NOW)
    with refused(InvalidTransition, errors.PATH_NOT_LIVE.format(state="revoked")):
        offer_to_data(personas, path)


# --- transfer_accept ----------------------------------------------------------------


def test_accept_transfer(personas, path, transfer):
    next_review = path.next_review_at
    with records("transfer.accepted"):
        result = services.transfer_accept(actor=personas.dana, transfer=transfer, now=LATER)
    assert result.status == Transfer.Status.ACCEPTED
    assert result.decided_by == personas.users.dana
    assert result.decided_at == LATER
    path.refresh_from_db()
    assert path.owner_team == personas.teams.data
    assert path.next_review_at == next_review  # only an attestation restarts the clock
    assert path.escalation_stage == 0
    assert path.version == 2
    assert last_event().changes["owner_team"] == ["payments", "data"]
    assert status_of(personas, path) == "active"


def test_after_a_transfer_the_old_owner_can_no_longer_edit(personas, path, transfer):
    services.transfer_accept(actor=personas.dana, transfer=transfer, now=LATER)
    with refused(NotAllowed, errors.NOT_A_MEMBER):
        services.path_update(
            actor=Actor.for_user(personas.users.pat),
            path=path,
            changes={"consumers": "x"},
            now=LATER,
        )


# Answering a transfer (accept or decline): only the receiving team's people.
ANSWER_REFUSALS = [
    ("system", errors.HUMAN_REQUIRED),
    ("payments_ci", errors.HUMAN_REQUIRED),
    ("data_ci", errors.HUMAN_REQUIRED),
    ("otto", errors.OUTSIDER),
    ("pat", errors.NOT_A_MEMBER_OF_TEAM),
    ("lee", errors.NOT_A_MEMBER_OF_TEAM),
    ("sam", errors.NOT_A_MEMBER_OF_TEAM),
    ("gwen", errors.NOT_A_MEMBER_OF_TEAM),
]


@pytest.mark.parametrize(("who", "message"), ANSWER_REFUSALS)
@pytest.mark.parametrize("answer", ["accept", "decline"])
def test_answering_a_transfer_refused(personas, transfer, answer, who, message):
    actor = actor_named(personas, who)
    with refused(NotAllowed, message):
        if answer == "accept":
            services.transfer_accept(actor=actor, transfer=transfer, now=LATER)
        else:
            services.transfer_decline(
                actor=actor, transfer=transfer, reason="Not our pipeline.", now=LATER
            )


def test_accepting_a_declined_transfer_is_refused(personas, transfer):
    services.transfer_decline(
        actor=personas.dana, transfer=transfer, reason="Not our pipeline.", now=LATER
    )
    with refused(InvalidTransition, errors.TRANSFER_NOT_PENDING.format(status="declined")):
        services.transfer_accept(actor=personas.dana, transfer=transfer, now=LATER)


def test_accepting_a_transfer_twice_is_refused(personas, transfer):
    services.transfer_accept(actor=personas.dana, transfer=transfer, now=LATER)
    with refused(InvalidTransition, errors.TRANSFER_NOT_PENDING.format(status="accepted")):
        services.transfer_accept(actor=personas.dana, transfer=transfer, now=LATER)


def test_accepting_a_transfer_of_a_revoked_path_is_refused(personas, path, transfer):
    services.path_revoke(actor=personas.lee, path=path, reason="Decommissioned.", now=NOW)
    with refused(InvalidTransition, errors.TRANSFER_NOT_PENDING.format(status="declined")):
        services.transfer_accept(actor=personas.dana, transfer=transfer, now=LATER)


def test_accepting_a_transfer_of_a_path_past_its_expiry_is_refused(personas, transfer):
    with refused(InvalidTransition, errors.PATH_NOT_LIVE.format(state="expired")):
        services.transfer_accept(actor=personas.dana, transfer=transfer, now=NOW + 181 * DAY)


def test_receiving_team_deactivated_since_cannot_accept(personas, transfer):
    services.team_deactivate(
        actor=personas.sam, team=personas.teams.data, reason="Team merged.", now=NOW
    )
    # dana's only team is inactive now, so she acts for no team at all.
    with refused(NotAllowed, errors.OUTSIDER):
        services.transfer_accept(
            actor=Actor.for_user(personas.users.dana), transfer=transfer, now=LATER
        )


def test_a_transfer_to_a_team_deactivated_since_does_not_block_the_path(personas, path, transfer):
    services.team_deactivate(
        actor=personas.sam, team=personas.teams.data, reason="Team merged.", now=NOW
    )
    again = services.path_transfer(
        actor=personas.lee,
        path=path,
        to_team=personas.teams.growth,
        reason="Growth took over the export.",
        now=LATER,
    )
    assert again.status == Transfer.Status.PENDING


# --- transfer_decline ---------------------------------------------------------------


def test_decline_transfer(personas, path, transfer):
    with records("transfer.declined"):
        result = services.transfer_decline(
            actor=personas.dana, transfer=transfer, reason="Not our pipeline.", now=LATER
        )
    assert result.status == Transfer.Status.DECLINED
    assert result.decided_by == personas.users.dana
    assert result.decision_reason == "Not our pipeline."
    path.refresh_from_db()
    assert path.owner_team == personas.teams.payments
    assert path.version == 1


@pytest.mark.parametrize("reason", ["", "   "])
def test_decline_transfer_requires_a_reason(personas, transfer, reason):
    with refused(Invalid, errors.REQUIRED):
        services.transfer_decline(actor=personas.dana, transfer=transfer, reason=reason, now=LATER)


def test_declining_an_accepted_transfer_is_refused(personas, transfer):
    services.transfer_accept(actor=personas.dana, transfer=transfer, now=LATER)
    with refused(InvalidTransition, errors.TRANSFER_NOT_PENDING.format(status="accepted")):
        services.transfer_decline(
            actor=personas.dana, transfer=transfer, reason="Changed our mind.", now=LATER
        )


def test_a_declined_transfer_can_be_offered_again(personas, path, transfer):
    services.transfer_decline(
        actor=personas.dana, transfer=transfer, reason="Not our pipeline.", now=LATER
    )
    again = offer_to_data(personas, path)
    assert again.status == Transfer.Status.PENDING


def test_accept_rolls_back_when_audit_write_fails(personas, path, transfer):
    before = snapshot()
    with audit_write_fails():
        services.transfer_accept(actor=personas.dana, transfer=transfer, now=LATER)
    assert snapshot() == before
    path.refresh_from_db()
    assert path.owner_team == personas.teams.payments
