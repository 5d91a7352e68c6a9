"""Changes that relax a path's guard rails wait for a second person.

Lowering a risk tier (its reviews come less often), moving an expiry past the policy's
window for the tier, or lifting lead sign-off, asked by a token or by someone not a
lead on a high or critical path (permissions.change_needs_approval), is held as a
pending ChangeRequest; the rest of the same edit applies at once. A lead of the owning
team approves (security for a critical path), never the person who asked or issued
the token that asked; approving applies the held fields through the path service, as
the approver, with both steps audited.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.db import transaction

from registry.audit import audit_record
from registry.models import AccessPath, ChangeRequest, Notification, Team
from registry.notifications.outbox import Audience, Notice, path_summary, queue
from registry.rules import errors, permissions
from registry.rules.actors import Actor
from registry.rules.errors import InvalidTransition
from registry.rules.policies import Policy
from registry.runtime.writer_lock import hold_writer_lock
from registry.services._common import refuse_if, require_text, resolve_now

Status = ChangeRequest.Status
REASON = Notification.Reason.CHANGE_REQUEST
_APPLYING: ContextVar[bool] = ContextVar("applying_approved_change", default=False)


def hold_change(
    *, actor: Actor, path: AccessPath, values: dict, reason: str, now: dt.datetime, policy: Policy
) -> tuple[dict, ChangeRequest | None]:
    """Split an edit of the locked `path`: fields that need approval go into a pending
    request (audited, approvers told); returns the values that apply now and it."""
    if _APPLYING.get():
        return values, None
    fields = permissions.held_fields(path, values, now=now, policy=policy)
    approver = permissions.change_needs_approval(actor, path) if fields else None
    if approver is None:
        return values, None
    if ChangeRequest.objects.filter(path=path, status=Status.PENDING).exists():
        raise InvalidTransition(errors.CHANGE_ALREADY_PENDING)
    held = {field: _as_json(values[field]) for field in fields}
    request = ChangeRequest.objects.create(
        path=path,
        changes=held,
        reason=reason,
        approver=approver,
        requested_by=actor.user,
        requested_through_token_of_id=actor.token_issuer_id,
        requested_by_label=actor.label,
        created_at=now,
    )
    audit_record(
        actor=actor,
        action="change_request.requested",
        obj=request,
        path=path,
        now=now,
        changes={"changes": [None, held], "approver": [None, approver]},
        reason=reason,
    )
    _tell_approvers(request, path, now)
    return {f: v for f, v in values.items() if f not in fields}, request


def hold_for_approval(
    actor: Actor,
    locked: AccessPath,
    candidate: AccessPath,
    asked: Mapping[str, Any],
    changed: set[str],
    *,
    reason: str,
    now: dt.datetime,
    policy: Policy,
) -> set[str]:
    """Validated changes that need a second person wait in a change request
    (services/change_requests.py); the rest apply. `locked.held_change` tells the
    caller (the API answers 202)."""
    values = {field: getattr(candidate, field) for field in changed}
    now_values, held = hold_change(
        actor=actor, path=locked, values=values, reason=reason, now=now, policy=policy
    )
    locked.held_change = held
    if held is None:
        return changed
    kept = set(now_values)
    if "risk_tier" in held.changes and "review_interval_days" not in asked:
        kept.discard("review_interval_days")  # derived from the tier: waits with it
    for field in changed - kept:
        setattr(candidate, field, getattr(locked, field))
    return kept


@transaction.atomic
def change_request_decide(
    *,
    actor: Actor,
    request: ChangeRequest,
    approve: bool,
    reason: str = "",
    now: dt.datetime | None = None,
) -> ChangeRequest:
    """Approve (apply the held fields, as the approver) or reject a pending change."""
    from registry.services.paths import path_update  # the path service applies it

    now = resolve_now(now)
    hold_writer_lock()  # before any read or lock: runtime/writer_lock.py
    locked = ChangeRequest.objects.select_for_update().select_related("path").get(pk=request.pk)
    refuse_if(permissions.refuse_change_decision(actor, locked))
    if locked.status != Status.PENDING:
        raise InvalidTransition(errors.CHANGE_NOT_PENDING.format(status=locked.status))
    if not approve:
        reason = require_text("reason", reason)
    status = Status.APPROVED if approve else Status.REJECTED
    locked.status, locked.decided_by, locked.decided_at = status, actor.user, now
    locked.decision_reason = reason
    locked.save(update_fields=["status", "decided_by", "decided_at", "decision_reason"])
    audit_record(
        actor=actor,
        action=f"change_request.{status}",
        obj=locked,
        path=locked.path,
        now=now,
        changes={"status": [Status.PENDING, status]},
        reason=reason,
    )
    if approve:
        with _applying():
            path_update(
                actor=actor,
                path=locked.path,
                changes=_from_json(locked.changes),
                reason=f"Approved change request {locked.pk} of {locked.requested_by_label}.",
                now=now,
            )
    return locked


@contextmanager
def _applying():
    token = _APPLYING.set(True)
    try:
        yield
    finally:
        _APPLYING.reset(token)


def _as_json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.datetime) else value


def _from_json(changes: dict) -> dict:
    values = dict(changes)
    if values.get("expires_at"):
        values["expires_at"] = dt.datetime.fromisoformat(values["expires_at"])
    return values


def _tell_approvers(request: ChangeRequest, path: AccessPath, now: dt.datetime) -> None:
    """The owning team's leads, or security for a critical path, hear at once."""
    if request.approver == ChangeRequest.Approver.SECURITY or path.owner_team_id is None:
        teams = list(Team.objects.filter(kind=Team.Kind.SECURITY, is_active=True))
        audience = Audience.MEMBERS
    else:
        owner = path.owner_team  # not None: owner_team_id is set in this branch
        teams = [owner] if owner is not None and owner.is_active else []
        audience = Audience.LEADS
    payload = {
        "path": path_summary(path),
        "reason": REASON,
        "changes": request.changes,
        "requested_by": request.requested_by_label,
    }
    notices = [
        Notice(
            team_id=team.pk,
            audience=audience,
            path_id=path.pk,
            reason=REASON,
            cycle=now,
            payload=payload,
        )
        for team in teams
    ]
    if notices:
        queue(notices, teams={t.pk: t for t in teams}, now=now)
