"""Claims (registry.services.ownership): a team asks to own an unowned path; security
decides, never on its own claim; approving one claim rejects its competitors."""

from __future__ import annotations

import contextlib

import pytest

from registry import services
from registry.audit import verify_chain
from registry.models import AccessPath, AuditEvent, Claim
from registry.rules import errors
from registry.rules.errors import Invalid, InvalidTransition, NotAllowed
from registry.services.ownership import ANOTHER_CLAIM_APPROVED
from tests.assertions import audit_write_fails, last_event, records, refused, snapshot
from tests.conftest import NOW
from tests.services.ownership_helpers import (
    CLAIM_REASON,
    DATA_CLAIM_REASON,
    DAY,
    DECISION_REASON,
    LATER,
    actor_named,
    claim,
    status_of,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def pending_claim(personas, unowned_path) -> Claim:
    return claim(personas, unowned_path)


# --- path_claim ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "team"),
    [
        ("pat", "payments"),
        ("lee", "payments"),
        ("payments_ci", "payments"),
        ("dana", "data"),
        ("sam", "security"),
        ("system", "payments"),
    ],
)
def test_claim(personas, unowned_path, who, team):
    actor = actor_named(personas, who)
    with records("claim.requested"):
        result = claim(personas, unowned_path, who=who, team=team)
    result.refresh_from_db()
    assert result.status == Claim.Status.PENDING
    assert result.team == getattr(personas.teams, team)
    assert result.requested_by == actor.user
    assert result.requested_by_label == actor.label
    assert result.reason == CLAIM_REASON
    unowned_path.refresh_from_db()
    assert unowned_path.state == AccessPath.State.CLAIM_PENDING
    assert unowned_path.owner_team is None
    assert unowned_path.version == 2
    event = last_event()
    assert event.path_id == unowned_path.pk
    assert event.changes["team"] == [None, team]
    assert event.changes["state"] == ["unowned", "claim_pending"]
    assert status_of(personas, unowned_path) == "claim_pending"


def test_competing_claim_waits_beside_the_first(personas, pending_claim, unowned_path):
    with records("claim.requested"):
        other = claim(personas, unowned_path, who="dana", team="data", reason=DATA_CLAIM_REASON)
    assert other.status == Claim.Status.PENDING
    unowned_path.refresh_from_db()
    assert unowned_path.state == AccessPath.State.CLAIM_PENDING
    assert unowned_path.version == 2  # the second claim does not touch the path
    assert Claim.objects.filter(path=unowned_path, status="pending").count() == 2


@pytest.mark.parametrize(
    ("who", "team", "message"),
    [
        ("otto", "payments", errors.OUTSIDER),
        ("dana", "payments", errors.NOT_A_MEMBER_OF_TEAM),
        ("pat", "data", errors.NOT_A_MEMBER_OF_TEAM),
        ("sam", "payments", errors.NOT_A_MEMBER_OF_TEAM),
        ("payments_ci", "data", errors.NOT_A_MEMBER_OF_TEAM),
        ("gwen", "payments", errors.NOT_A_MEMBER_OF_TEAM),
    ],
)
def test_claim_refused(personas, unowned_path, who, team, message):
    with refused(NotAllowed, message):
        claim(personas, unowned_path, who=who, team=team)


def test_claim_for_inactive_team_is_refused(personas, unowned_path):
    services.team_deactivate(
        actor=personas.system, team=personas.teams.growth, reason="Team disbanded.", now=NOW
    )
    with refused(Invalid, errors.TEAM_INACTIVE) as exc:
        claim(personas, unowned_path, who="system", team="growth")
    assert exc.value.field == "team"


def test_claiming_an_owned_path_is_refused(personas, path):
    with refused(InvalidTransition, errors.PATH_NOT_CLAIMABLE.format(state="active")):
        claim(personas, path, who="dana", team="data")


def test_claiming_a_revoked_path_is_refused(personas, unowned_path):
    services.path_revoke(actor=personas.sam, path=unowned_path, reason="Decommissioned.", now=NOW)
    with refused(InvalidTransition, errors.PATH_NOT_CLAIMABLE.format(state="revoked")):
        claim(personas, unowned_path)


def test_claiming_a_path_past_its_expiry_is_refused(personas, make_path):
    path = make_path(
        owner_team=None,
        justification="",
        ticket_url="",
        now=NOW - 10 * DAY,
        expires_at=NOW - DAY,
    )
    with refused(InvalidTransition, errors.PATH_NOT_CLAIMABLE.format(state="expired")):
        claim(personas, path)


def test_second_claim_by_the_same_team_is_refused(personas, pending_claim, unowned_path):
    with refused(InvalidTransition, errors.CLAIM_ALREADY_PENDING):
        claim(personas, unowned_path, who="lee")


@pytest.mark.parametrize(
    ("reason", "message"),
    [
        ("", errors.REQUIRED),
        ("   ", errors.REQUIRED),
        ("n/a", errors.JUSTIFICATION_PLACEHOLDER),
        ("needed", errors.JUSTIFICATION_PLACEHOLDER),
        ("TBD", errors.JUSTIFICATION_PLACEHOLDER),
        ("temp", errors.JUSTIFICATION_PLACEHOLDER),
        ("ours", errors.JUSTIFICATION_TOO_SHORT.format(min_length=25, min_words=4)),
        (
            "Our export job signs in with AKIAIOSFODNN7EXAMPLE nightly.",
            errors.LOOKS_LIKE_SECRET.format(kind="AWS access key id"),
        ),
        (
            "Our export job uses ghp_" + "x" * 36 + " to push reports.",
            errors.LOOKS_LIKE_SECRET.format(kind="GitHub token"),
        ),
    ],
)
def test_claim_needs_a_specific_reason(personas, unowned_path, reason, message):
    with refused(Invalid, message) as exc:
        claim(personas, unowned_path, reason=reason)
    assert exc.value.field == "reason"


@pytest.mark.parametrize(
    ("proposed", "message"),
    [
        (NOW - DAY, errors.EXPIRY_IN_PAST),
        (NOW + 731 * DAY, errors.EXPIRY_TOO_FAR.format(days=730)),
    ],
)
def test_claim_refuses_proposed_expiry_out_of_range(personas, unowned_path, proposed, message):
    with refused(Invalid, message) as exc:
        claim(personas, unowned_path, proposed_expires_at=proposed)
    assert exc.value.field == "proposed_expires_at"


# --- claim_approve ------------------------------------------------------------------


@pytest.mark.parametrize("reviewer", ["sam", "sid"])
def test_approve_claim(personas, sid, pending_claim, unowned_path, reviewer):
    actor = sid if reviewer == "sid" else personas.sam
    with records("claim.approved"):
        result = services.claim_approve(
            actor=actor, claim=pending_claim, reason=DECISION_REASON, now=LATER
        )
    assert result.status == Claim.Status.APPROVED
    assert result.decided_by == actor.user
    assert result.decided_at == LATER
    assert result.decision_reason == DECISION_REASON
    unowned_path.refresh_from_db()
    assert unowned_path.state == AccessPath.State.ACTIVE
    assert unowned_path.owner_team == personas.teams.payments
    assert unowned_path.state_changed_at == LATER
    assert unowned_path.next_review_at == LATER + 90 * DAY  # high risk tier
    assert unowned_path.expires_at == LATER + 180 * DAY  # the high tier's default expiry
    assert unowned_path.version == 3
    event = last_event()
    assert event.changes["status"] == ["pending", "approved"]
    assert event.changes["owner_team"] == [None, "payments"]
    assert event.changes["state"] == ["claim_pending", "active"]
    assert status_of(personas, unowned_path) == "active"


def test_approve_uses_the_proposed_expiry(personas, unowned_path):
    proposed = claim(personas, unowned_path, proposed_expires_at=NOW + 60 * DAY)
    services.claim_approve(actor=personas.sam, claim=proposed, now=LATER)
    unowned_path.refresh_from_db()
    assert unowned_path.expires_at == NOW + 60 * DAY


def test_approve_keeps_the_paths_own_expiry(personas, make_path):
    path = make_path(owner_team=None, justification="", ticket_url="", expires_at=NOW + 20 * DAY)
    pending = claim(personas, path, proposed_expires_at=NOW + 60 * DAY)
    services.claim_approve(actor=personas.sam, claim=pending, now=LATER)
    path.refresh_from_db()
    assert path.expires_at == NOW + 20 * DAY


def test_approve_does_not_create_an_owned_path_that_is_already_expired(personas, unowned_path):
    pending = claim(personas, unowned_path, proposed_expires_at=NOW + 2 * DAY)
    approval_time = NOW + 3 * DAY
    with contextlib.suppress(errors.ServiceError):  # refusing is as good as a fresh expiry
        services.claim_approve(actor=personas.sam, claim=pending, now=approval_time)
    assert status_of(personas, unowned_path, approval_time) != "expired"


def test_approving_one_claim_rejects_the_competing_ones(personas, pending_claim, unowned_path):
    other = claim(personas, unowned_path, who="dana", team="data", reason=DATA_CLAIM_REASON)
    with records("claim.approved", "claim.rejected"):
        services.claim_approve(actor=personas.sam, claim=other, now=LATER)
    pending_claim.refresh_from_db()
    assert pending_claim.status == Claim.Status.REJECTED
    assert pending_claim.decision_reason == ANOTHER_CLAIM_APPROVED
    assert pending_claim.decided_by == personas.users.sam
    unowned_path.refresh_from_db()
    assert unowned_path.owner_team == personas.teams.data


@pytest.mark.parametrize("who", ["pat", "lee", "dana", "otto", "payments_ci", "system", "gwen"])
def test_approve_claim_refused_to_non_reviewers(personas, pending_claim, who):
    with refused(NotAllowed, errors.NOT_A_SECURITY_REVIEWER):
        services.claim_approve(actor=actor_named(personas, who), claim=pending_claim, now=LATER)


def test_reviewer_cannot_approve_own_claim(personas, sid, unowned_path):
    own = claim(personas, unowned_path, who="sam", team="security")
    with refused(NotAllowed, errors.SELF_REVIEW_FORBIDDEN):
        services.claim_approve(actor=personas.sam, claim=own, now=LATER)
    services.claim_approve(actor=sid, claim=own, now=LATER)
    own.refresh_from_db()
    assert own.status == Claim.Status.APPROVED


def test_approving_a_claim_twice_is_refused(personas, pending_claim):
    services.claim_approve(actor=personas.sam, claim=pending_claim, now=LATER)
    with refused(InvalidTransition, errors.CLAIM_NOT_PENDING.format(status="approved")):
        services.claim_approve(actor=personas.sam, claim=pending_claim, now=LATER)


def test_approving_a_rejected_claim_is_refused(personas, pending_claim):
    services.claim_reject(
        actor=personas.sam, claim=pending_claim, reason=DECISION_REASON, now=LATER
    )
    with refused(InvalidTransition, errors.CLAIM_NOT_PENDING.format(status="rejected")):
        services.claim_approve(actor=personas.sam, claim=pending_claim, now=LATER)


def test_approving_the_losing_competing_claim_is_refused(personas, pending_claim, unowned_path):
    other = claim(personas, unowned_path, who="dana", team="data", reason=DATA_CLAIM_REASON)
    services.claim_approve(actor=personas.sam, claim=other, now=LATER)
    with refused(InvalidTransition, errors.CLAIM_NOT_PENDING.format(status="rejected")):
        services.claim_approve(actor=personas.sam, claim=pending_claim, now=LATER)


def test_approving_a_claim_on_a_path_past_its_expiry_is_refused(personas, make_path):
    path = make_path(owner_team=None, justification="", ticket_url="", expires_at=NOW + 2 * DAY)
    pending = claim(personas, path)
    with refused(InvalidTransition, errors.PATH_NOT_CLAIMABLE.format(state="expired")):
        services.claim_approve(actor=personas.sam, claim=pending, now=NOW + 3 * DAY)


def test_deactivating_a_team_rejects_its_pending_claims(personas, unowned_path):
    pending = claim(personas, unowned_path, who="dana", team="data", reason=DATA_CLAIM_REASON)
    services.team_deactivate(
        actor=personas.sam, team=personas.teams.data, reason="Team merged.", now=NOW
    )
    pending.refresh_from_db()
    unowned_path.refresh_from_db()
    assert pending.status == Claim.Status.REJECTED
    assert unowned_path.state == AccessPath.State.UNOWNED
    event = AuditEvent.objects.get(action="claim.rejected", object_id=str(pending.pk))
    assert event.changes["state"] == ["claim_pending", "unowned"]
    with refused(InvalidTransition, errors.CLAIM_NOT_PENDING.format(status="rejected")):
        services.claim_approve(actor=personas.sam, claim=pending, now=LATER)


def test_approve_refuses_secret_in_reason(personas, pending_claim):
    message = errors.LOOKS_LIKE_SECRET.format(kind="Slack token")
    with refused(Invalid, message):
        services.claim_approve(
            actor=personas.sam,
            claim=pending_claim,
            reason="approved, see xoxb-1234567890-abcdef",
            now=LATER,
        )


# --- claim_reject -------------------------------------------------------------------


@pytest.mark.parametrize("reviewer", ["sam", "sid"])
def test_rejecting_the_last_pending_claim_returns_the_path_to_unowned(
    personas, sid, pending_claim, unowned_path, reviewer
):
    actor = sid if reviewer == "sid" else personas.sam
    with records("claim.rejected"):
        result = services.claim_reject(
            actor=actor, claim=pending_claim, reason=DECISION_REASON, now=LATER
        )
    assert result.status == Claim.Status.REJECTED
    assert result.decided_by == actor.user
    assert result.decision_reason == DECISION_REASON
    unowned_path.refresh_from_db()
    assert unowned_path.state == AccessPath.State.UNOWNED
    assert unowned_path.state_changed_at == LATER
    assert unowned_path.version == 3
    assert last_event().changes["state"] == ["claim_pending", "unowned"]
    assert status_of(personas, unowned_path) == "unowned"


def test_rejecting_one_of_two_claims_keeps_the_path_claim_pending(
    personas, pending_claim, unowned_path
):
    claim(personas, unowned_path, who="dana", team="data", reason=DATA_CLAIM_REASON)
    with records("claim.rejected"):
        services.claim_reject(
            actor=personas.sam, claim=pending_claim, reason=DECISION_REASON, now=LATER
        )
    unowned_path.refresh_from_db()
    assert unowned_path.state == AccessPath.State.CLAIM_PENDING
    assert unowned_path.version == 2


@pytest.mark.parametrize("who", ["pat", "lee", "dana", "otto", "payments_ci", "system", "gwen"])
def test_reject_claim_refused_to_non_reviewers(personas, pending_claim, who):
    with refused(NotAllowed, errors.NOT_A_SECURITY_REVIEWER):
        services.claim_reject(
            actor=actor_named(personas, who),
            claim=pending_claim,
            reason=DECISION_REASON,
            now=LATER,
        )


def test_reviewer_cannot_reject_own_claim(personas, unowned_path):
    own = claim(personas, unowned_path, who="sam", team="security")
    with refused(NotAllowed, errors.SELF_REVIEW_FORBIDDEN):
        services.claim_reject(actor=personas.sam, claim=own, reason=DECISION_REASON, now=LATER)


@pytest.mark.parametrize("reason", ["", "  "])
def test_reject_claim_requires_a_reason(personas, pending_claim, reason):
    with refused(Invalid, errors.REQUIRED) as exc:
        services.claim_reject(actor=personas.sam, claim=pending_claim, reason=reason, now=LATER)
    assert exc.value.field == "reason"


def test_rejecting_an_approved_claim_is_refused(personas, pending_claim):
    services.claim_approve(actor=personas.sam, claim=pending_claim, now=LATER)
    with refused(InvalidTransition, errors.CLAIM_NOT_PENDING.format(status="approved")):
        services.claim_reject(
            actor=personas.sam, claim=pending_claim, reason=DECISION_REASON, now=LATER
        )


# --- atomicity ----------------------------------------------------------------------


def test_approve_rolls_back_when_rejecting_a_competitor_cannot_be_audited(
    personas, pending_claim, unowned_path
):
    other = claim(personas, unowned_path, who="dana", team="data", reason=DATA_CLAIM_REASON)
    before = snapshot()
    with audit_write_fails("claim.rejected"):
        services.claim_approve(actor=personas.sam, claim=other, now=LATER)
    assert snapshot() == before
    unowned_path.refresh_from_db()
    assert unowned_path.state == AccessPath.State.CLAIM_PENDING
    assert unowned_path.owner_team is None
    assert verify_chain().intact
