"""path_revoke and path_expire: who may end a path, what ending it does to its open
claims and transfers, what they refuse; and that a path ends together with its audit
event or not at all."""

from __future__ import annotations

import pytest

from registry import services
from registry.audit import verify_chain
from registry.models import AccessPath, Claim, Transfer
from registry.rules import errors
from registry.rules.errors import Invalid, InvalidTransition, NotAllowed, StaleVersion
from tests.assertions import audit_write_fails, last_event, records, refused, snapshot
from tests.conftest import NOW, build_personas, path_data
from tests.services.paths_helpers import DAY, REVOKE_REASON, claim_for_payments, status_of

pytestmark = pytest.mark.django_db

# --- path_revoke --------------------------------------------------------------------


@pytest.mark.parametrize("who", ["pat", "lee", "sam", "system"])
def test_revoke(personas, path, who):
    with records("access_path.revoked"):
        services.path_revoke(
            actor=getattr(personas, who),
            path=path,
            reason=REVOKE_REASON,
            expected_version=1,
            now=NOW + DAY,
        )
    path.refresh_from_db()
    assert path.state == AccessPath.State.REVOKED
    assert path.state_changed_at == NOW + DAY
    assert path.version == 2
    assert last_event().reason == REVOKE_REASON
    assert last_event().changes["state"] == ["active", "revoked"]
    assert status_of(personas, path, NOW + DAY) == "awaiting_source"


@pytest.mark.parametrize(
    ("who", "message"),
    [
        ("payments_ci", errors.HUMAN_REQUIRED),
        ("otto", errors.OUTSIDER),
        ("dana", errors.NOT_A_MEMBER),
    ],
)
def test_revoke_refused(personas, path, who, message):
    with refused(NotAllowed, message):
        services.path_revoke(actor=getattr(personas, who), path=path, reason=REVOKE_REASON, now=NOW)


@pytest.mark.parametrize("reason", ["", "   "])
def test_revoke_requires_a_reason(personas, path, reason):
    with refused(Invalid, errors.REQUIRED) as exc:
        services.path_revoke(actor=personas.lee, path=path, reason=reason, now=NOW)
    assert exc.value.field == "reason"


def test_revoke_refuses_secret_in_reason(personas, path):
    message = errors.LOOKS_LIKE_SECRET.format(kind="Slack token")
    with refused(Invalid, message):
        services.path_revoke(
            actor=personas.lee, path=path, reason="leaked xoxb-1234567890-abcdef", now=NOW
        )


def test_revoke_twice_is_refused(personas, path):
    services.path_revoke(actor=personas.lee, path=path, reason=REVOKE_REASON, now=NOW)
    with refused(InvalidTransition, errors.PATH_NOT_LIVE.format(state="revoked")):
        services.path_revoke(actor=personas.sam, path=path, reason=REVOKE_REASON, now=NOW)


def test_revoke_with_stale_version_is_refused(personas, path):
    services.path_update(actor=personas.pat, path=path, changes={"consumers": "cron"}, now=NOW)
    with refused(StaleVersion, errors.STALE_VERSION.format(expected=1, actual=2)):
        services.path_revoke(
            actor=personas.lee, path=path, reason=REVOKE_REASON, expected_version=1, now=NOW
        )


@pytest.mark.parametrize("who", ["platform_member", "sam"])
def test_revoke_unowned_path_by_steward_or_security(personas, unowned_path, platform_member, who):
    actor = platform_member if who == "platform_member" else personas.sam
    services.path_revoke(actor=actor, path=unowned_path, reason=REVOKE_REASON, now=NOW)
    unowned_path.refresh_from_db()
    assert unowned_path.state == AccessPath.State.REVOKED


def test_revoke_unowned_path_refused_to_non_steward(personas, unowned_path):
    with refused(NotAllowed, errors.NOT_A_MEMBER):
        services.path_revoke(actor=personas.pat, path=unowned_path, reason=REVOKE_REASON, now=NOW)


def test_revoke_rejects_pending_claims(personas, unowned_path):
    claim = claim_for_payments(personas, unowned_path)
    with records("claim.rejected", "access_path.revoked"):
        services.path_revoke(actor=personas.sam, path=unowned_path, reason=REVOKE_REASON, now=NOW)
    claim.refresh_from_db()
    assert claim.status == Claim.Status.REJECTED
    assert claim.decision_reason == "The path was revoked."


def test_revoke_declines_pending_transfer(personas, path):
    transfer = services.path_transfer(
        actor=personas.lee,
        path=path,
        to_team=personas.teams.data,
        reason="Data now runs the export.",
        now=NOW,
    )
    with records("transfer.declined", "access_path.revoked"):
        services.path_revoke(actor=personas.lee, path=path, reason=REVOKE_REASON, now=NOW)
    transfer.refresh_from_db()
    assert transfer.status == Transfer.Status.DECLINED


# --- path_expire --------------------------------------------------------------------

AFTER_EXPIRY = NOW + 181 * DAY  # make_path's high-tier default expiry is NOW + 180 days


@pytest.mark.parametrize("who", ["sam", "system"])
def test_expire(personas, path, who):
    assert status_of(personas, path, AFTER_EXPIRY) == "awaiting_source"
    with records("access_path.expired"):
        services.path_expire(actor=getattr(personas, who), path=path, now=AFTER_EXPIRY)
    path.refresh_from_db()
    assert path.state == AccessPath.State.EXPIRED
    assert path.state_changed_at == AFTER_EXPIRY
    assert path.version == 2
    assert last_event().changes["state"] == ["active", "expired"]
    assert status_of(personas, path, AFTER_EXPIRY) == "awaiting_source"


@pytest.mark.parametrize("who", ["pat", "lee", "dana", "otto", "payments_ci"])
def test_expire_refused(personas, path, who):
    with refused(NotAllowed, errors.NOT_A_SECURITY_REVIEWER):
        services.path_expire(actor=getattr(personas, who), path=path, now=AFTER_EXPIRY)


def test_expire_before_expiry_is_refused(personas, path):
    with refused(InvalidTransition, errors.NOT_YET_EXPIRED):
        services.path_expire(actor=personas.system, path=path, now=NOW + 179 * DAY)


def test_expire_unowned_path_without_expiry_is_refused(personas, unowned_path):
    with refused(InvalidTransition, errors.NOT_YET_EXPIRED):
        services.path_expire(actor=personas.system, path=unowned_path, now=AFTER_EXPIRY)


def test_expire_revoked_path_is_refused(personas, path):
    services.path_revoke(actor=personas.lee, path=path, reason=REVOKE_REASON, now=NOW)
    with refused(InvalidTransition, errors.PATH_NOT_LIVE.format(state="revoked")):
        services.path_expire(actor=personas.system, path=path, now=AFTER_EXPIRY)


def test_expire_twice_is_refused(personas, path):
    services.path_expire(actor=personas.system, path=path, now=AFTER_EXPIRY)
    with refused(InvalidTransition, errors.PATH_NOT_LIVE.format(state="expired")):
        services.path_expire(actor=personas.system, path=path, now=AFTER_EXPIRY)


def test_expire_rejects_pending_claims(personas, make_path):
    path = make_path(owner_team=None, justification="", ticket_url="", expires_at=NOW + 10 * DAY)
    claim = claim_for_payments(personas, path)
    with records("claim.rejected", "access_path.expired"):
        services.path_expire(actor=personas.system, path=path, now=NOW + 11 * DAY)
    claim.refresh_from_db()
    assert claim.status == Claim.Status.REJECTED
    path.refresh_from_db()
    assert path.state == AccessPath.State.EXPIRED


def test_revoke_rolls_back_claims_and_state_when_its_event_cannot_be_written(
    personas, unowned_path
):
    claim_for_payments(personas, unowned_path)
    before = snapshot()
    # The claim's rejection may be written; the path's own event is refused.
    with audit_write_fails("access_path.revoked"):
        services.path_revoke(actor=personas.sam, path=unowned_path, reason=REVOKE_REASON, now=NOW)
    assert snapshot() == before
    unowned_path.refresh_from_db()
    assert unowned_path.state == AccessPath.State.CLAIM_PENDING
    assert verify_chain().intact


@pytest.mark.django_db(transaction=True)
def test_expire_rolls_back_in_a_real_transaction_when_audit_write_fails():
    personas = build_personas()
    path = services.path_register(
        actor=personas.system, data=path_data(owner_team=personas.teams.payments), now=NOW
    )
    before = snapshot()
    with audit_write_fails():
        services.path_expire(actor=personas.system, path=path, now=AFTER_EXPIRY)
    assert snapshot() == before
    path.refresh_from_db()
    assert path.state == AccessPath.State.ACTIVE
    assert path.version == 1
    assert verify_chain().intact
