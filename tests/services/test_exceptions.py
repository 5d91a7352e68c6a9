"""Policy exceptions: a documented, time-boxed waiver of one posture rule for one path,
requested by its team and decided by a security reviewer (never their own request)."""

from __future__ import annotations

import datetime as dt

import pytest

from registry import services
from registry.audit import verify_chain
from registry.models import (
    AccessPath,
    PolicyException,
)
from registry.rules import errors
from registry.rules.actors import Actor
from registry.rules.errors import Invalid, InvalidTransition, NotAllowed
from tests.assertions import audit_write_fails, last_event, records, refused, snapshot
from tests.conftest import NOW

pytestmark = pytest.mark.django_db

DAY = dt.timedelta(days=1)
LATER = NOW + DAY
NO_EXPIRY = PolicyException.Rule.NO_EXPIRY
REASON = "The HSM-backed signing key is rotated by the vendor, never by us."
DECISION = "Rotation evidence reviewed in SEC-2211."
UNTIL = NOW + 90 * DAY
CHOOSE_A_RULE = f"Choose one of: {', '.join(PolicyException.Rule.values)}."


# --- helpers ------------------------------------------------------------------------


def actor_named(personas, who: str) -> Actor:
    if who == "gwen":  # growth's lead: a lead, but of another team
        return Actor.for_user(personas.users.gwen)
    return getattr(personas, who)


def request(actor, path, *, rule=NO_EXPIRY, reason=REASON, expires_at=UNTIL) -> PolicyException:
    return services.exception_request(
        actor=actor, path=path, rule=rule, reason=reason, expires_at=expires_at, now=NOW
    )


def drop_expiry(actor, path, *, now=LATER) -> AccessPath:
    return services.path_update(actor=actor, path=path, changes={"expires_at": None}, now=now)


@pytest.fixture
def pending(personas, path) -> PolicyException:
    """pat asks for payments' path to go without expiry."""
    return request(personas.pat, path)


# --- exception_request --------------------------------------------------------------


@pytest.mark.parametrize("who", ["pat", "lee", "sam"])
def test_request(personas, path, who):
    actor = actor_named(personas, who)
    with records("exception.requested"):
        exception = request(actor, path)
    exception.refresh_from_db()
    assert exception.status == PolicyException.Status.PENDING
    assert exception.rule == NO_EXPIRY
    assert exception.reason == REASON
    assert exception.expires_at == UNTIL
    assert exception.requested_by == actor.user
    assert exception.created_at == NOW
    event = last_event()
    assert event.path_id == path.pk
    assert event.object_type == "policyexception"
    assert event.changes["rule"] == [None, "no_expiry"]
    path.refresh_from_db()
    assert path.version == 1  # a request waives nothing yet
    assert path.expiry_waiver is None


def test_security_may_request_for_an_unowned_path(personas, unowned_path):
    exception = request(personas.sam, unowned_path, rule=PolicyException.Rule.MISSING_TICKET)
    assert exception.status == PolicyException.Status.PENDING


@pytest.mark.parametrize(
    ("who", "message"),
    [
        ("payments_ci", errors.HUMAN_REQUIRED),
        ("system", errors.HUMAN_REQUIRED),
        ("otto", errors.OUTSIDER),
        ("dana", errors.NOT_A_MEMBER),
        ("gwen", errors.NOT_A_MEMBER),
    ],
)
def test_request_refused(personas, path, who, message):
    with refused(NotAllowed, message):
        request(actor_named(personas, who), path)


def test_request_for_a_revoked_path_is_refused(personas, path):
    services.path_revoke(actor=personas.lee, path=path, reason="Decommissioned.", now=NOW)
    with refused(InvalidTransition, errors.PATH_NOT_LIVE.format(state="revoked")):
        request(personas.pat, path)


@pytest.mark.parametrize("rule", ["no_rotation", "", "NO_EXPIRY"])
def test_request_for_an_unknown_rule_is_refused(personas, path, rule):
    with refused(Invalid, CHOOSE_A_RULE) as exc:
        request(personas.pat, path, rule=rule)
    assert exc.value.field == "rule"


@pytest.mark.parametrize(
    ("reason", "message"),
    [
        ("", errors.REQUIRED),
        ("n/a", errors.JUSTIFICATION_PLACEHOLDER),
        ("tbd", errors.JUSTIFICATION_PLACEHOLDER),
        ("needed", errors.JUSTIFICATION_PLACEHOLDER),
        ("temp", errors.JUSTIFICATION_PLACEHOLDER),
        ("vendor rotates", errors.JUSTIFICATION_TOO_SHORT.format(min_length=25, min_words=4)),
        (
            "Vendor rotates the key -----BEGIN EC PRIVATE KEY----- for us.",
            errors.LOOKS_LIKE_SECRET.format(kind="private key"),
        ),
        (
            "The vendor portal session eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.abcdefghijkl",
            errors.LOOKS_LIKE_SECRET.format(kind="JSON Web Token"),
        ),
    ],
)
def test_request_needs_a_specific_reason(personas, path, reason, message):
    with refused(Invalid, message) as exc:
        request(personas.pat, path, reason=reason)
    assert exc.value.field == "reason"


@pytest.mark.parametrize(
    ("expires_at", "message"),
    [
        (None, errors.REQUIRED),
        (NOW - DAY, errors.EXPIRY_IN_PAST),
        (NOW, errors.EXPIRY_IN_PAST),
        (NOW + 366 * DAY, errors.EXCEPTION_TOO_LONG.format(days=365)),
    ],
)
def test_request_must_be_time_boxed(personas, path, expires_at, message):
    with refused(Invalid, message) as exc:
        request(personas.pat, path, expires_at=expires_at)
    assert exc.value.field == "expires_at"


def test_request_may_last_the_maximum(personas, path):
    assert request(personas.pat, path, expires_at=NOW + 365 * DAY).expires_at == NOW + 365 * DAY


def test_second_pending_request_for_the_same_rule_is_refused(personas, path, pending):
    with refused(InvalidTransition, errors.EXCEPTION_ALREADY_PENDING):
        request(personas.lee, path)


def test_pending_requests_for_different_rules_coexist(personas, path, pending):
    other = request(personas.lee, path, rule=PolicyException.Rule.NHI5_OVERPRIVILEGED)
    assert other.status == PolicyException.Status.PENDING


# --- exception_approve --------------------------------------------------------------


def test_approve_no_expiry_waiver(personas, path, pending):
    with records("exception.approved"):
        approved = services.exception_approve(
            actor=personas.sam, exception=pending, reason=DECISION, now=LATER
        )
    assert approved.status == PolicyException.Status.APPROVED
    assert approved.decided_by == personas.users.sam
    assert approved.decided_at == LATER
    assert approved.decision_reason == DECISION
    path.refresh_from_db()
    assert path.expiry_waiver == approved
    assert path.expires_at == NOW + 180 * DAY  # the owners decide when to drop it
    assert path.version == 2
    assert last_event().changes["status"] == ["pending", "approved"]
    assert last_event().changes["expiry_waiver"] == [None, str(approved.pk)]


def test_approve_another_rule_leaves_the_path_alone(personas, path):
    exception = request(personas.pat, path, rule=PolicyException.Rule.NHI9_REUSE)
    with records("exception.approved"):
        services.exception_approve(actor=personas.sam, exception=exception, now=LATER)
    path.refresh_from_db()
    assert path.version == 1
    assert path.expiry_waiver is None


def test_approved_no_expiry_waiver_lets_the_owners_drop_the_expiry(personas, path, pending):
    services.exception_approve(actor=personas.sam, exception=pending, now=LATER)
    with records("access_path.updated"):
        drop_expiry(personas.pat, path)
    path.refresh_from_db()
    assert path.expires_at is None
    assert path.expiry_waiver_id == pending.pk
    assert path.version == 3
    assert last_event().changes["expires_at"] == [(NOW + 180 * DAY).isoformat(), None]


def test_without_a_waiver_an_owned_path_keeps_its_expiry(personas, path):
    with refused(Invalid, errors.EXPIRY_REQUIRED):
        drop_expiry(personas.pat, path)


def test_a_pending_waiver_does_not_let_the_expiry_go(personas, path, pending):
    with refused(Invalid, errors.EXPIRY_REQUIRED):
        drop_expiry(personas.pat, path)


def test_a_rejected_waiver_does_not_let_the_expiry_go(personas, path, pending):
    services.exception_reject(actor=personas.sam, exception=pending, reason=DECISION, now=LATER)
    with refused(Invalid, errors.EXPIRY_REQUIRED):
        drop_expiry(personas.pat, path)


def test_a_lapsed_waiver_does_not_let_the_expiry_go(personas, path, pending):
    services.exception_approve(actor=personas.sam, exception=pending, now=LATER)
    with refused(Invalid, errors.EXPIRY_REQUIRED):
        drop_expiry(personas.pat, path, now=UNTIL + DAY)


def test_a_waiver_of_another_rule_does_not_let_the_expiry_go(personas, path):
    other = request(personas.pat, path, rule=PolicyException.Rule.NHI7_LONG_LIVED)
    services.exception_approve(actor=personas.sam, exception=other, now=LATER)
    with refused(Invalid, errors.EXPIRY_REQUIRED):
        drop_expiry(personas.pat, path)


def test_a_waiver_for_another_path_does_not_let_the_expiry_go(personas, make_path, path):
    other_path = make_path()
    waiver = request(personas.pat, other_path)
    services.exception_approve(actor=personas.sam, exception=waiver, now=LATER)
    with refused(Invalid, errors.EXPIRY_REQUIRED):
        drop_expiry(personas.pat, path)


@pytest.mark.parametrize("who", ["pat", "lee", "dana", "otto", "payments_ci", "system", "gwen"])
def test_approve_refused_to_non_reviewers(personas, pending, who):
    with refused(NotAllowed, errors.NOT_A_SECURITY_REVIEWER):
        services.exception_approve(actor=actor_named(personas, who), exception=pending, now=LATER)


def test_reviewer_cannot_approve_own_request(personas, sid, path):
    own = request(personas.sam, path)
    with refused(NotAllowed, errors.SELF_REVIEW_FORBIDDEN):
        services.exception_approve(actor=personas.sam, exception=own, now=LATER)
    with records("exception.approved"):
        services.exception_approve(actor=sid, exception=own, now=LATER)


def test_approving_twice_is_refused(personas, pending):
    services.exception_approve(actor=personas.sam, exception=pending, now=LATER)
    with refused(InvalidTransition, errors.EXCEPTION_NOT_PENDING.format(status="approved")):
        services.exception_approve(actor=personas.sam, exception=pending, now=LATER)


def test_approving_a_rejected_request_is_refused(personas, pending):
    services.exception_reject(actor=personas.sam, exception=pending, reason=DECISION, now=LATER)
    with refused(InvalidTransition, errors.EXCEPTION_NOT_PENDING.format(status="rejected")):
        services.exception_approve(actor=personas.sam, exception=pending, now=LATER)


def test_approving_for_a_revoked_path_is_refused(personas, path, pending):
    services.path_revoke(actor=personas.lee, path=path, reason="Decommissioned.", now=NOW)
    with refused(InvalidTransition, errors.PATH_NOT_LIVE.format(state="revoked")):
        services.exception_approve(actor=personas.sam, exception=pending, now=LATER)


def test_approving_a_request_whose_end_has_passed_is_refused(personas, path):
    short = request(personas.pat, path, expires_at=NOW + 5 * DAY)
    with refused(InvalidTransition, errors.EXPIRY_IN_PAST):
        services.exception_approve(actor=personas.sam, exception=short, now=NOW + 6 * DAY)


def test_approve_refuses_secret_in_reason(personas, pending):
    message = errors.LOOKS_LIKE_SECRET.format(kind="AWS access key id")
    with refused(Invalid, message):
        services.exception_approve(
            actor=personas.sam, exception=pending, reason="ok AKIAIOSFODNN7EXAMPLE", now=LATER
        )


# --- exception_reject ---------------------------------------------------------------


@pytest.mark.parametrize("reviewer", ["sam", "sid"])
def test_reject(personas, sid, path, pending, reviewer):
    actor = sid if reviewer == "sid" else personas.sam
    with records("exception.rejected"):
        rejected = services.exception_reject(
            actor=actor, exception=pending, reason=DECISION, now=LATER
        )
    assert rejected.status == PolicyException.Status.REJECTED
    assert rejected.decided_by == actor.user
    assert rejected.decision_reason == DECISION
    assert last_event().reason == DECISION
    path.refresh_from_db()
    assert path.version == 1
    assert path.expiry_waiver is None


@pytest.mark.parametrize("who", ["pat", "lee", "dana", "otto", "payments_ci", "system", "gwen"])
def test_reject_refused_to_non_reviewers(personas, pending, who):
    with refused(NotAllowed, errors.NOT_A_SECURITY_REVIEWER):
        services.exception_reject(
            actor=actor_named(personas, who), exception=pending, reason=DECISION, now=LATER
        )


def test_reviewer_cannot_reject_own_request(personas, path):
    own = request(personas.sam, path)
    with refused(NotAllowed, errors.SELF_REVIEW_FORBIDDEN):
        services.exception_reject(actor=personas.sam, exception=own, reason=DECISION, now=LATER)


@pytest.mark.parametrize("reason", ["", "  "])
def test_reject_requires_a_reason(personas, pending, reason):
    with refused(Invalid, errors.REQUIRED) as exc:
        services.exception_reject(actor=personas.sam, exception=pending, reason=reason, now=LATER)
    assert exc.value.field == "reason"


def test_rejecting_an_approved_request_is_refused(personas, pending):
    services.exception_approve(actor=personas.sam, exception=pending, now=LATER)
    with refused(InvalidTransition, errors.EXCEPTION_NOT_PENDING.format(status="approved")):
        services.exception_reject(actor=personas.sam, exception=pending, reason=DECISION, now=LATER)


def test_a_rejected_rule_may_be_requested_again(personas, path, pending):
    services.exception_reject(actor=personas.sam, exception=pending, reason=DECISION, now=LATER)
    assert request(personas.pat, path).status == PolicyException.Status.PENDING


# --- atomicity ----------------------------------------------------------------------


def test_approve_rolls_back_the_waiver_when_audit_write_fails(personas, path, pending):
    before = snapshot()
    with audit_write_fails():
        services.exception_approve(actor=personas.sam, exception=pending, now=LATER)
    assert snapshot() == before
    pending.refresh_from_db()
    assert pending.status == PolicyException.Status.PENDING
    path.refresh_from_db()
    assert path.expiry_waiver is None
    assert verify_chain().intact
