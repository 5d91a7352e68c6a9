"""Appending to the audit trail.

Every service calls `audit_record` inside its own transaction, so a change and its
event commit together or not at all. The chain head row is locked while appending,
which gives each event a gap-free `seq` and the exact hash of the event before it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import connection, models

from registry.audit.chain import GENESIS_HASH, event_hash, new_salt
from registry.models import AccessPath, AuditChainHead, AuditEvent
from registry.rules.actors import Actor
from registry.rules.errors import Invalid
from registry.rules.validation import secret_errors
from registry.runtime.request_id import current_request_id
from registry.runtime.writer_lock import hold_writer_lock


def jsonable(value: Any) -> Any:
    """A value as it is stored in `changes`: plain JSON that hashes the same after a
    round trip through the database."""
    if isinstance(value, models.Model):
        # Teams are known by slug in every interface; say the same in the audit log.
        return getattr(value, "slug", None) or str(value.pk)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(v) for v in value]
    return value


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[Any]]:
    """{field: [before, after]} for the fields whose value changed."""
    return {
        key: [jsonable(before.get(key)), jsonable(after[key])]
        for key in after
        if jsonable(before.get(key)) != jsonable(after[key])
    }


# What a removed legacy credential reads as in the change that removed it.
CREDENTIAL_REMOVED = "[credential removed]"


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)


def _without_removed_credentials(changes: dict[str, Any]) -> dict[str, Any]:
    """A change that removes a credential stored before the detector knew its format
    (cleaning up a legacy record) records that it removed one, not the credential."""
    cleaned = dict(changes)
    for field_name, value in changes.items():
        if isinstance(value, list) and len(value) == 2:
            before = value[0]
            if any(secret_errors({field_name: text}) for text in _strings(before)):
                cleaned[field_name] = [CREDENTIAL_REMOVED, value[1]]
    return cleaned


def _credentials_in(event: AuditEvent) -> dict[str, list[str]]:
    """The last line of defence: whatever a service forgot to check, the audit trail
    (which is kept forever) refuses to record a credential, and the change with it."""
    found: dict[str, list[str]] = {}
    for field_name, value in [("reason", event.reason), *event.changes.items()]:
        for text in _strings(value):
            if errors := secret_errors({field_name: text}):
                found.update(errors)
                break
    return found


def no_such_object(model: type[models.Model]) -> models.Model:
    """An unsaved, never-saved instance standing for "no such record" (an unknown user
    name, an unknown token): the event names the kind of object with an empty id. Only
    its model name and its pk (the empty string) reach the event, so it hashes like any
    other event."""
    placeholder = model()
    placeholder.pk = ""
    return placeholder


@dataclass(frozen=True)
class AuditEntry:
    """One event to append: what happened to which object."""

    action: str
    obj: models.Model
    changes: Mapping[str, Any] = field(default_factory=dict)
    reason: str = ""
    path: AccessPath | None = None


def audit_record(
    *,
    actor: Actor,
    action: str,
    obj: models.Model,
    now: dt.datetime,
    changes: Mapping[str, Any] | None = None,
    reason: str = "",
    path: AccessPath | None = None,
) -> AuditEvent:
    entry = AuditEntry(action=action, obj=obj, changes=changes or {}, reason=reason, path=path)
    return audit_record_many(actor=actor, now=now, entries=[entry])[0]


def _object_type(obj: models.Model) -> str:
    """The audited object's model name ("accesspath"), set on every concrete model."""
    name = obj._meta.model_name
    if name is None:
        raise TypeError(f"{type(obj).__name__} is not a concrete model")
    return name


def audit_record_many(
    *, actor: Actor, now: dt.datetime, entries: Sequence[AuditEntry]
) -> list[AuditEvent]:
    """Append events in order under one lock of the chain head (one round trip per
    batch instead of three per event: the sweep escalates thousands at a time)."""
    if not connection.in_atomic_block:
        # An event written outside the change's transaction could survive a rolled-back
        # change (or be lost with a committed one): refuse loudly, this is a bug.
        raise RuntimeError("audit_record must run inside the transaction of the change")
    if not entries:
        return []
    hold_writer_lock()  # before the chain's head: runtime/writer_lock.py says why
    head, _ = AuditChainHead.objects.select_for_update().get_or_create(pk=1)
    seq, prev_hash = head.last_seq, head.last_hash or GENESIS_HASH
    request_id = current_request_id()
    events = []
    for entry in entries:
        seq += 1
        obj = entry.obj
        event = AuditEvent(
            seq=seq,
            created_at=now,
            actor_type=actor.kind,
            actor_user=actor.user,
            actor_label=actor.label[:200],
            action=entry.action,
            object_type=_object_type(obj),
            object_id=str(obj.pk),
            path=entry.path
            if entry.path is not None
            else (obj if isinstance(obj, AccessPath) else None),
            changes=jsonable(dict(entry.changes)),
            reason=entry.reason,
            request_id=request_id,
            prev_hash=prev_hash,
            salt=new_salt(),
        )
        event.changes = _without_removed_credentials(event.changes)
        if found := _credentials_in(event):
            raise Invalid(found)
        event.hash = event_hash(event)
        prev_hash = event.hash
        events.append(event)
    AuditEvent.objects.bulk_create(events)
    AuditChainHead.objects.filter(pk=1).update(last_seq=seq, last_hash=prev_hash)
    return events
