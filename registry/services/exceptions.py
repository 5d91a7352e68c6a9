"""Policy exceptions: documented, time-boxed waivers of one posture rule for one path."""

from __future__ import annotations

import datetime as dt

from django.db import transaction

from registry.audit import audit_record
from registry.models import AccessPath, PolicyException
from registry.rules import errors, permissions, preconditions
from registry.rules.actors import Actor
from registry.rules.errors import Invalid, InvalidTransition
from registry.rules.policies import current_policy
from registry.services._common import (
    acting_person,
    check_expiry,
    lock_path,
    refuse_if,
    refuse_transition,
    require_specific,
    require_text,
    resolve_now,
    save_path,
)
from registry.services.tallies import refresh_facts

Status = PolicyException.Status


@transaction.atomic
def exception_request(
    *,
    actor: Actor,
    path: AccessPath,
    rule: str,
    reason: str,
    expires_at: dt.datetime,
    now: dt.datetime | None = None,
) -> PolicyException:
    now = resolve_now(now)
    policy = current_policy()
    locked = lock_path(path.pk)
    refuse_if(permissions.refuse_exception_request(actor, locked))
    refuse_transition(preconditions.refuse_not_live(locked, now))
    if rule not in PolicyException.Rule.values:
        raise Invalid.single("rule", f"Choose one of: {', '.join(PolicyException.Rule.values)}.")
    reason = require_specific("reason", reason, policy)
    if expires_at is None:
        raise Invalid.single("expires_at", errors.REQUIRED)
    check_expiry(
        "expires_at",
        expires_at,
        now=now,
        max_days=policy.max_exception_days,
        message=errors.EXCEPTION_TOO_LONG,
    )
    if PolicyException.objects.filter(path=locked, rule=rule, status=Status.PENDING).exists():
        raise InvalidTransition(errors.EXCEPTION_ALREADY_PENDING)
    # Security's own requests are not queued in front of anyone but itself.
    if (owner := locked.owner_team) is not None and not actor.sees_everything:
        waiting = PolicyException.objects.filter(
            path__owner_team_id=owner.pk, status=Status.PENDING
        ).count()
        if waiting >= policy.max_pending_requests_per_team:
            what = "exceptions"
            message = errors.TOO_MANY_PENDING.format(team=owner.name, count=waiting, what=what)
            raise Invalid.single("path", message)
    exception = PolicyException.objects.create(
        path=locked,
        rule=rule,
        reason=reason,
        expires_at=expires_at,
        requested_by=acting_person(actor),
        created_at=now,
    )
    audit_record(
        actor=actor,
        action="exception.requested",
        obj=exception,
        path=locked,
        now=now,
        changes={
            "rule": [None, rule],
            "expires_at": [None, expires_at],
            "status": [None, Status.PENDING],
        },
        reason=reason,
    )
    return exception


def _lock_exception(exception: PolicyException) -> tuple[AccessPath, PolicyException]:
    locked_path = lock_path(exception.path_id)
    return locked_path, PolicyException.objects.select_for_update().get(pk=exception.pk)


@transaction.atomic
def exception_approve(
    *,
    actor: Actor,
    exception: PolicyException,
    reason: str = "",
    now: dt.datetime | None = None,
) -> PolicyException:
    """Approve a waiver. A no-expiry waiver is what lets its owners remove the expiry."""
    now = resolve_now(now)
    locked_path, locked = _lock_exception(exception)
    refuse_if(permissions.refuse_exception_decision(actor, locked))
    refuse_transition(
        preconditions.refuse_exception_decision_now(locked, locked_path, now, approving=True)
    )
    if reason:
        reason = require_text("reason", reason)
    PolicyException.objects.filter(pk=locked.pk, status=Status.PENDING).update(
        status=Status.APPROVED, decided_by=actor.user, decided_at=now, decision_reason=reason
    )
    changes = {"status": [Status.PENDING, Status.APPROVED]}
    if locked.rule == PolicyException.Rule.NO_EXPIRY:
        changes |= save_path(locked_path, {"expiry_waiver": locked}, now=now)
    else:  # the waiver silences its rule on the path (save_path refreshes otherwise)
        refresh_facts([locked_path.pk], now=now)
    audit_record(
        actor=actor,
        action="exception.approved",
        obj=locked,
        path=locked_path,
        now=now,
        changes=changes,
        reason=reason,
    )
    locked.refresh_from_db()
    return locked


@transaction.atomic
def exception_reject(
    *,
    actor: Actor,
    exception: PolicyException,
    reason: str,
    now: dt.datetime | None = None,
) -> PolicyException:
    now = resolve_now(now)
    locked_path, locked = _lock_exception(exception)
    refuse_if(permissions.refuse_exception_decision(actor, locked))
    refuse_transition(
        preconditions.refuse_exception_decision_now(locked, locked_path, now, approving=False)
    )
    reason = require_text("reason", reason)
    PolicyException.objects.filter(pk=locked.pk, status=Status.PENDING).update(
        status=Status.REJECTED, decided_by=actor.user, decided_at=now, decision_reason=reason
    )
    audit_record(
        actor=actor,
        action="exception.rejected",
        obj=locked,
        path=locked_path,
        now=now,
        changes={"status": [Status.PENDING, Status.REJECTED]},
        reason=reason,
    )
    locked.refresh_from_db()
    return locked
