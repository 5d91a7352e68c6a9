"""Claims (a team asks to own an unowned path) and transfers (an owner hands a path on)."""

from __future__ import annotations

import datetime as dt

from django.db import transaction

from registry.audit import audit_record
from registry.models import AccessPath, Claim, Notification, Team, Transfer
from registry.notifications.outbox import Audience, Notice, path_summary, queue
from registry.rules import errors, permissions, preconditions
from registry.rules.actors import Actor
from registry.rules.errors import Invalid
from registry.rules.policies import Policy, current_policy
from registry.rules.validation import (
    justification_error,
    merge_errors,
    secret_errors,
    ticket_url_error,
)
from registry.services._common import (
    check_expiry,
    check_version,
    decline_transfer,
    lock_path,
    model_field_errors,
    owning_team,
    refuse_if,
    refuse_transition,
    reject_claim,
    require_specific,
    require_text,
    resolve_now,
    save_path,
)

State = AccessPath.State
ANOTHER_CLAIM_APPROVED = "Another team's claim on this path was approved."


def _require_active_team(team: Team, field: str) -> None:
    if not team.is_active:
        raise Invalid.single(field, errors.TEAM_INACTIVE)


@transaction.atomic
def path_claim(
    *,
    actor: Actor,
    path: AccessPath,
    team: Team,
    reason: str,
    ticket_url: str = "",
    justification: str = "",
    proposed_expires_at: dt.datetime | None = None,
    expected_version: int | None = None,
    now: dt.datetime | None = None,
) -> Claim:
    """Ask for `team` to own an unowned path. Competing claims from other teams may wait
    side by side; a security reviewer picks one. The ticket and justification are what
    the path's record says once the claim is approved (see _claimed_record)."""
    now = resolve_now(now)
    policy = current_policy()
    locked = lock_path(path.pk)
    refuse_if(permissions.refuse_claim(actor, team))
    check_version(locked, expected_version)
    _require_active_team(team, "team")
    refuse_transition(preconditions.refuse_claim_now(locked, now, already_claimed=False))
    reason = require_specific("reason", reason, policy)
    record = _claimed_record(
        locked, ticket_url=ticket_url, justification=justification, reason=reason, policy=policy
    )
    check_expiry(
        "proposed_expires_at",
        proposed_expires_at,
        now=now,
        max_days=policy.max_expiry_days,
        message=errors.EXPIRY_TOO_FAR,
    )
    pending = Claim.objects.filter(path=locked, team=team, status=Claim.Status.PENDING)
    if pending.exists():
        refuse_transition(preconditions.refuse_claim_now(locked, now, already_claimed=True))
    waiting = Claim.objects.filter(team=team, status=Claim.Status.PENDING).count()
    if waiting >= policy.max_pending_requests_per_team and not actor.sees_everything:
        message = errors.TOO_MANY_PENDING.format(team=team.name, count=waiting, what="claims")
        raise Invalid.single("team", message)
    claim = Claim.objects.create(
        path=locked,
        team=team,
        requested_by=actor.user,
        requested_through_token_of_id=actor.token_issuer_id,
        requested_by_label=actor.label,
        reason=reason,
        **record,
        proposed_expires_at=proposed_expires_at,
        created_at=now,
    )
    changes = {"team": [None, team.slug], "status": [None, Claim.Status.PENDING]}
    if locked.state == State.UNOWNED:
        changes |= save_path(
            locked, {"state": State.CLAIM_PENDING, "state_changed_at": now}, now=now
        )
    audit_record(
        actor=actor,
        action="claim.requested",
        obj=claim,
        path=locked,
        now=now,
        changes=changes,
        reason=reason,
    )
    security = list(Team.objects.filter(kind=Team.Kind.SECURITY, is_active=True))
    _tell(
        security, locked, Notification.Reason.CLAIM_REQUESTED, claim.created_at, now, team=team.slug
    )
    return claim


def _claimed_record(
    path: AccessPath, *, ticket_url: str, justification: str, reason: str, policy: Policy
) -> dict[str, str]:
    """The ticket and justification the path gets when the claim is approved: what the
    claimant gave (checked by the rules path_register applies), else the path's own. A
    path without a usable justification takes the claim's reason, which passed the same
    check: approval must not leave a "weak justification" the claim could have fixed."""
    ticket = (ticket_url or "").strip()
    text = (justification or "").strip()
    found: dict[str, list[str]] = {}
    if ticket and (message := ticket_url_error(ticket)):
        found["ticket_url"] = [message]
    elif ticket:
        # Django's own checks (the column's length); its URL message is less specific.
        found |= model_field_errors(Claim(ticket_url=ticket), {"ticket_url"})
    if text and (message := justification_error(text, policy)):
        found["justification"] = [message]
    if found := merge_errors(found, secret_errors({"ticket_url": ticket, "justification": text})):
        raise Invalid(found)
    if not text:
        kept = path.justification.strip()
        text = kept if kept and justification_error(kept, policy) is None else reason
    return {"ticket_url": ticket or path.ticket_url, "justification": text}


def _tell(teams: list[Team], path: AccessPath, reason: str, cycle, now, **extra) -> None:
    """Queue a notice to each team's members about a request on `path`."""
    payload = {
        "path": path_summary(path),
        "reason": reason,
        **extra,
    }
    notices = [
        Notice(
            team_id=t.pk,
            audience=Audience.MEMBERS,
            path_id=path.pk,
            reason=reason,
            cycle=cycle,
            payload=payload,
        )
        for t in teams
    ]
    queue(notices, teams={t.pk: t for t in teams}, now=now)


def _lock_pending_claim(claim: Claim) -> tuple[AccessPath, Claim]:
    # Path first, then claim: every service takes locks in this order, so they never
    # deadlock, and the loser of a race sees the winner's outcome.
    locked_path = lock_path(claim.path_id)
    locked_claim = (
        Claim.objects.select_for_update(of=("self",)).select_related("team").get(pk=claim.pk)
    )
    return locked_path, locked_claim


@transaction.atomic
def claim_approve(
    *, actor: Actor, claim: Claim, reason: str = "", now: dt.datetime | None = None
) -> Claim:
    """Make the claiming team the owner. The path becomes active with the claim's ticket
    and justification, a review date from its risk tier and an expiry (the path's, the
    claim's proposal, or the default); the other pending claims are rejected."""
    now = resolve_now(now)
    policy = current_policy()
    locked_path, locked = _lock_pending_claim(claim)
    refuse_if(permissions.refuse_claim_decision(actor, locked))
    refuse_transition(preconditions.refuse_claim_approval_now(locked, locked_path, now))
    _require_active_team(locked.team, "team")
    if reason:
        reason = require_text("reason", reason)

    Claim.objects.filter(pk=locked.pk, status=Claim.Status.PENDING).update(
        status=Claim.Status.APPROVED,
        decided_by=actor.user,
        decided_at=now,
        decision_reason=reason,
    )
    proposed = locked.proposed_expires_at
    if proposed is not None and proposed <= now:
        proposed = None  # it passed while the claim waited; fall back to the default
    expires_at = (
        locked_path.expires_at or proposed or now + policy.default_expiry_for(locked_path.risk_tier)
    )
    # The record the claim carried (empty only for a claim made before claims carried one).
    record = {
        field: value
        for field, value in (
            ("ticket_url", locked.ticket_url),
            ("justification", locked.justification),
        )
        if value
    }
    changes = save_path(
        locked_path,
        {
            **record,
            "owner_team": locked.team,
            "state": State.ACTIVE,
            "state_changed_at": now,
            "expires_at": expires_at,
            "next_review_at": now + dt.timedelta(days=locked_path.review_interval_days),
            "escalation_stage": 0,
        },
        now=now,
    )
    audit_record(
        actor=actor,
        action="claim.approved",
        obj=locked,
        path=locked_path,
        now=now,
        changes={"status": [Claim.Status.PENDING, Claim.Status.APPROVED]} | changes,
        reason=reason,
    )
    competing = Claim.objects.select_for_update().filter(
        path=locked_path, status=Claim.Status.PENDING
    )
    for other in competing:
        reject_claim(other, path=locked_path, actor=actor, now=now, why=ANOTHER_CLAIM_APPROVED)
    locked.refresh_from_db()
    return locked


@transaction.atomic
def claim_reject(
    *, actor: Actor, claim: Claim, reason: str, now: dt.datetime | None = None
) -> Claim:
    now = resolve_now(now)
    locked_path, locked = _lock_pending_claim(claim)
    refuse_if(permissions.refuse_claim_decision(actor, locked))
    refuse_transition(preconditions.refuse_claim_decision_now(locked, locked_path, now))
    reason = require_text("reason", reason)
    reject_claim(locked, path=locked_path, actor=actor, now=now, why=reason)
    locked.refresh_from_db()
    return locked


@transaction.atomic
def path_transfer(
    *,
    actor: Actor,
    path: AccessPath,
    to_team: Team,
    reason: str,
    expected_version: int | None = None,
    now: dt.datetime | None = None,
) -> Transfer:
    """Offer a path to another team. Ownership moves only when that team accepts."""
    now = resolve_now(now)
    locked = lock_path(path.pk)
    refuse_if(permissions.refuse_transfer(actor, locked))
    refuse_transition(preconditions.refuse_not_live(locked, now))
    check_version(locked, expected_version)
    refuse_transition(preconditions.refuse_transfer_now(locked, now, transfer_pending=False))
    if to_team.pk == locked.owner_team_id:
        raise Invalid.single("to_team", errors.SAME_TEAM)
    _require_active_team(to_team, "to_team")
    reason = require_text("reason", reason)
    pending = Transfer.objects.filter(path=locked, status=Transfer.Status.PENDING).exists()
    refuse_transition(preconditions.refuse_transfer_now(locked, now, transfer_pending=pending))
    owner = owning_team(locked)
    transfer = Transfer.objects.create(
        path=locked,
        from_team=owner,
        to_team=to_team,
        requested_by=actor.user,
        requested_by_label=actor.label,
        reason=reason,
        created_at=now,
    )
    audit_record(
        actor=actor,
        action="transfer.requested",
        obj=transfer,
        path=locked,
        now=now,
        changes={
            "from_team": [None, owner.slug],
            "to_team": [None, to_team.slug],
            "status": [None, Transfer.Status.PENDING],
        },
        reason=reason,
    )
    _tell(
        [to_team],
        locked,
        Notification.Reason.TRANSFER_REQUESTED,
        transfer.created_at,
        now,
        from_team=owner.slug,
    )
    return transfer


def _lock_transfer(transfer: Transfer) -> tuple[AccessPath, Transfer]:
    locked_path = lock_path(transfer.path_id)
    locked = (
        Transfer.objects.select_for_update(of=("self",))
        .select_related("to_team")
        .get(pk=transfer.pk)
    )
    return locked_path, locked


@transaction.atomic
def transfer_accept(
    *, actor: Actor, transfer: Transfer, now: dt.datetime | None = None
) -> Transfer:
    """The receiving team takes ownership. The review clock is not reset: only an
    attestation does that, so inheriting an overdue path does not hide it."""
    now = resolve_now(now)
    locked_path, locked = _lock_transfer(transfer)
    refuse_if(permissions.refuse_transfer_answer(actor, locked))
    refuse_transition(
        preconditions.refuse_transfer_answer_now(locked, locked_path, now, accepting=True)
    )
    _require_active_team(locked.to_team, "to_team")
    Transfer.objects.filter(pk=locked.pk, status=Transfer.Status.PENDING).update(
        status=Transfer.Status.ACCEPTED, decided_by=actor.user, decided_at=now
    )
    changes = save_path(locked_path, {"owner_team": locked.to_team, "escalation_stage": 0}, now=now)
    audit_record(
        actor=actor,
        action="transfer.accepted",
        obj=locked,
        path=locked_path,
        now=now,
        changes={"status": [Transfer.Status.PENDING, Transfer.Status.ACCEPTED]} | changes,
    )
    locked.refresh_from_db()
    return locked


@transaction.atomic
def transfer_decline(
    *, actor: Actor, transfer: Transfer, reason: str, now: dt.datetime | None = None
) -> Transfer:
    now = resolve_now(now)
    locked_path, locked = _lock_transfer(transfer)
    refuse_if(permissions.refuse_transfer_answer(actor, locked))
    refuse_transition(
        preconditions.refuse_transfer_answer_now(locked, locked_path, now, accepting=False)
    )
    reason = require_text("reason", reason)
    decline_transfer(locked, path=locked_path, actor=actor, now=now, why=reason)
    locked.refresh_from_db()
    return locked
