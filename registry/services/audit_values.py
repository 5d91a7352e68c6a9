"""Purging a value from the audit trail without breaking its verification.

A value that should never have been stored (a credential in a format the detector did
not know yet, pasted into a reason) is replaced by "[purged]"; its commitment, which the
event's hash covers, is kept in `purged` with the sequence number of the purge event
(`audit.value_purged`: who, when, why, which slot), so `verify_audit` still passes and
can tell a purge from a quiet edit.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction

from registry.audit import PURGE_ACTION, audit_record
from registry.audit.chain import (
    CHANGES_PREFIX,
    PURGED,
    commitment,
    purged_form,
    slot_value,
    slot_values,
)
from registry.models import AuditEvent
from registry.rules import errors, permissions
from registry.rules.actors import Actor
from registry.rules.errors import Invalid, InvalidTransition, NotFound
from registry.services._common import refuse_if, require_text, resolve_now


def audit_value_purge(
    *, actor: Actor, seq: int, slot: str, reason: str, now: dt.datetime | None = None
) -> AuditEvent:
    """Replace one value of event `seq` by "[purged]"; return the purge event."""
    now = resolve_now(now)
    refuse_if(permissions.refuse_audit_purge(actor))
    reason = require_text("reason", reason)
    with transaction.atomic():
        event = AuditEvent.objects.select_for_update().filter(seq=seq).first()
        if event is None:
            raise NotFound(errors.AUDIT_EVENT_NOT_FOUND)
        slots = [name for name, _ in slot_values(event)]
        if slot not in slots:
            raise Invalid.single(
                "slot", errors.AUDIT_SLOT_UNKNOWN.format(slot=slot, slots=", ".join(slots))
            )
        if event.action == PURGE_ACTION and slot.startswith(CHANGES_PREFIX):
            raise InvalidTransition(errors.AUDIT_PURGE_OF_PURGE)
        if slot in event.purged:
            raise InvalidTransition(errors.AUDIT_ALREADY_PURGED)
        value = slot_value(event, slot)
        kept = commitment(event.salt, slot, value)
        purge = audit_record(
            actor=actor,
            action=PURGE_ACTION,
            obj=event,
            now=now,
            changes={"slot": slot, "commitment": kept},
            reason=reason,
            path=event.path,
        )
        update: dict = {"purged": {**event.purged, slot: {"commitment": kept, "by_seq": purge.seq}}}
        if slot.startswith(CHANGES_PREFIX):
            key = slot.removeprefix(CHANGES_PREFIX)
            update["changes"] = {**event.changes, key: purged_form(value)}
        else:
            update[slot] = PURGED
        AuditEvent.objects.filter(seq=seq).update(**update)
    return purge
