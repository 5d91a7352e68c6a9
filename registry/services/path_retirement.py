"""Retiring an access path: revoking it (a person, a token's owner, an attestation
that says "no longer needed") and expiring it once its expiry has passed. The record
stays; its state says it is gone, the audit chain says who and why, and integrations
are told so the credential is disabled where it lives too."""

from __future__ import annotations

import datetime as dt

from django.db import transaction

from registry.audit import audit_record, audit_record_many
from registry.models import AccessPath, Notification
from registry.notifications.events import publish_path_event
from registry.rules import errors, permissions, preconditions
from registry.rules.actors import Actor
from registry.rules.errors import InvalidTransition
from registry.services._common import (
    check_version,
    close_open_requests,
    lock_path,
    refuse_if,
    refuse_transition,
    require_text,
    resolve_now,
    save_path,
)
from registry.services.expiry import expire_locked


@transaction.atomic
def path_revoke(
    *,
    actor: Actor,
    path: AccessPath,
    reason: str,
    expected_version: int | None = None,
    now: dt.datetime | None = None,
) -> AccessPath:
    now = resolve_now(now)
    locked = lock_path(path.pk)
    refuse_if(permissions.refuse_revoke(actor, locked))
    reason = require_text("reason", reason)
    refuse_transition(preconditions.refuse_not_live(locked, now))
    check_version(locked, expected_version)
    return revoke_locked(locked, actor=actor, reason=reason, now=now)


def revoke_locked(locked: AccessPath, *, actor: Actor, reason: str, now: dt.datetime) -> AccessPath:
    """Revoke a path already locked and checked by the calling service."""
    change_log = save_path(
        locked,
        {"state": AccessPath.State.REVOKED, "state_changed_at": now, "escalation_stage": 0},
        now=now,
    )
    close_open_requests(locked, actor=actor, now=now, why="The path was revoked.")
    audit_record(
        actor=actor,
        action="access_path.revoked",
        obj=locked,
        now=now,
        changes=change_log,
        reason=reason,
    )
    # Tell integrations, so the credential is disabled where it lives too.
    publish_path_event(
        locked, Notification.Reason.EVENT_REVOKED, cycle=now, occurred_at=now, now=now
    )
    return locked


@transaction.atomic
def path_expire(
    *, actor: Actor, path: AccessPath, now: dt.datetime | None = None, publish: bool = True
) -> AccessPath:
    """Mark a path whose expiry has passed as expired (the sweep does this for all) and
    publish `access_path.expired`. The sweep passes publish=False: it publishes a whole
    batch's events together (one identifiers query per batch, not per path)."""
    now = resolve_now(now)
    locked = lock_path(path.pk)
    refuse_if(permissions.refuse_expire(actor))
    refuse_transition(preconditions.refuse_expire_now(locked, now))
    expiry = locked.expires_at
    if expiry is None:  # never: a live-state path with no expiry is live
        raise InvalidTransition(errors.NOT_YET_EXPIRED)
    # What expiring does has one home, shared with the sweep's batches.
    audit_record_many(actor=actor, now=now, entries=expire_locked(locked, actor=actor, now=now))
    if publish:
        publish_path_event(
            locked, Notification.Reason.EVENT_EXPIRED, cycle=expiry, occurred_at=expiry, now=now
        )
    return locked
