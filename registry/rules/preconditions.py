"""May this happen *now*: the state a path or a request must be in for each action.

The companion of rules/permissions.py (who may): each `refuse_*` returns the refusal
message, or None when the state allows the action. The services raise the message
(InvalidTransition, 409) on the row they have locked; the path page offers an action
only when both this and the permission rule allow it (web/views/paths.offered_actions).
"""

from __future__ import annotations

import datetime as dt

from registry.models import AccessPath, Claim, PolicyException, Transfer
from registry.rules import errors
from registry.rules.status import LIVE_STATES, effective_state, is_live

State = AccessPath.State


def refuse_not_live(path: AccessPath, now: dt.datetime) -> str | None:
    """Revoked or expired paths take no further action (update, revoke, requests)."""
    if is_live(path, now):
        return None
    return errors.PATH_NOT_LIVE.format(state=effective_state(path, now))


def refuse_claim_now(path: AccessPath, now: dt.datetime, *, already_claimed: bool) -> str | None:
    """A claim needs a path nobody owns yet; one pending claim per team."""
    state = effective_state(path, now)
    if state not in (State.UNOWNED, State.CLAIM_PENDING):
        return errors.PATH_NOT_CLAIMABLE.format(state=state)
    return errors.CLAIM_ALREADY_PENDING if already_claimed else None


def refuse_claim_decision_now(claim: Claim, path: AccessPath, now: dt.datetime) -> str | None:
    if claim.status != Claim.Status.PENDING:
        return errors.CLAIM_NOT_PENDING.format(status=claim.status)
    return None


def refuse_claim_approval_now(claim: Claim, path: AccessPath, now: dt.datetime) -> str | None:
    """Approving also needs the path still waiting for an owner."""
    if refused := refuse_claim_decision_now(claim, path, now):
        return refused
    if (state := effective_state(path, now)) != State.CLAIM_PENDING:
        return errors.PATH_NOT_CLAIMABLE.format(state=state)
    return None


def refuse_attest_now(path: AccessPath, now: dt.datetime) -> str | None:
    """Only an owned, live path is attested."""
    if refused := refuse_not_live(path, now):
        return refused
    return None if path.state == State.ACTIVE else errors.PATH_NOT_OWNED


def refuse_transfer_now(
    path: AccessPath, now: dt.datetime, *, transfer_pending: bool
) -> str | None:
    """An owned, live path with no transfer already on offer."""
    if refused := refuse_not_live(path, now):
        return refused
    if path.owner_team_id is None:
        return errors.PATH_NOT_OWNED
    return errors.TRANSFER_ALREADY_PENDING if transfer_pending else None


def refuse_transfer_answer_now(
    transfer: Transfer, path: AccessPath, now: dt.datetime, *, accepting: bool
) -> str | None:
    """A pending transfer; accepting it also needs the path live and still owned by the
    team that offered it."""
    if transfer.status != Transfer.Status.PENDING:
        return errors.TRANSFER_NOT_PENDING.format(status=transfer.status)
    if not accepting:
        return None
    if refused := refuse_not_live(path, now):
        return refused
    return errors.TRANSFER_STALE if path.owner_team_id != transfer.from_team_id else None


def refuse_exception_decision_now(
    exception: PolicyException, path: AccessPath, now: dt.datetime, *, approving: bool
) -> str | None:
    """A pending request; approving it also needs the path live and the waiver's end
    still ahead."""
    if exception.status != PolicyException.Status.PENDING:
        return errors.EXCEPTION_NOT_PENDING.format(status=exception.status)
    if not approving:
        return None
    if refused := refuse_not_live(path, now):
        return refused
    return errors.EXPIRY_IN_PAST if exception.expires_at <= now else None


def refuse_expire_now(path: AccessPath, now: dt.datetime) -> str | None:
    """Marking expired needs a path still live by state whose expiry has passed."""
    if path.state not in LIVE_STATES:
        return errors.PATH_NOT_LIVE.format(state=path.state)
    return errors.NOT_YET_EXPIRED if is_live(path, now) else None


def refuse_record_leases_now(path: AccessPath, now: dt.datetime) -> str | None:
    """Leases are recorded under an issuer (issuer_kind set) that is live and owned:
    the issuer carries the ownership, review and expiry its leases answer to."""
    if not path.issuer_kind:
        return errors.LEASES_NOT_AN_ISSUER
    state = effective_state(path, now)
    if state != State.ACTIVE:
        return errors.LEASES_ISSUER_NOT_ACTIVE.format(state=state)
    return None
