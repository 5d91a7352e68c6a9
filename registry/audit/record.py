"""Appending to the audit trail.

Every service calls `audit_record` inside its own transaction, so a change and its
event commit together or not at all. The chain head row is locked while appending,
which gives each event a gap-free `seq` and the exact hash of the event before it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from typing import Any

from django.db import connection, models

from registry.audit.chain import GENESIS_HASH, new_event_hash, new_salt
from registry.models import AccessPath, AuditChainHead, AuditEvent
from registry.rules.actors import Actor
from registry.rules.errors import Invalid
from registry.rules.validation import secret_errors
from registry.runtime.recordset import recordset_insert_sql, rows_document
from registry.runtime.request_id import current_request_id
from registry.runtime.writer_lock import hold_writer_lock

_PLAIN = frozenset({str, int, bool, float, type(None)})


def jsonable(value: Any) -> Any:
    """A value as it is stored in `changes`: plain JSON that hashes the same after a
    round trip through the database."""
    kind = type(value)
    if kind in _PLAIN:  # most values: no isinstance against the ABCs below
        return value
    if kind is list:  # a change's [before, after]
        return [jsonable(v) for v in value]
    if kind is dict:
        return {str(k): jsonable(v) for k, v in value.items()}
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


def _texts(value: Any) -> list[str]:
    """The strings in `value`; a string or a flat [before, after] without a generator."""
    if type(value) is str:
        return [value]
    if type(value) is list and all(type(item) in _PLAIN for item in value):
        return [item for item in value if type(item) is str]
    return list(_strings(value))


class _Scan:
    """The secret scan of an append, each distinct (field, text) once: a chunk of imported
    paths repeats its kinds, environments, teams and states in every event."""

    def __init__(self) -> None:
        self.found: dict[tuple[str, str], dict[str, list[str]]] = {}

    def __call__(self, field_name: str, text: str) -> dict[str, list[str]]:
        key = (field_name, text)
        if (found := self.found.get(key)) is None:
            found = self.found[key] = secret_errors({field_name: text})
        return found


def _without_removed_credentials(changes: dict[str, Any], scan: _Scan) -> dict[str, Any]:
    """A change that removes a credential stored before the detector knew its format
    (cleaning up a legacy record) records that it removed one, not the credential."""
    cleaned = changes
    for field_name, value in changes.items():
        # A registration's values have no before (None): nothing removed, nothing to scan.
        paired = isinstance(value, list) and len(value) == 2 and value[0] is not None
        if paired and any(scan(field_name, text) for text in _strings(value[0])):
            cleaned = dict(cleaned) if cleaned is changes else cleaned
            cleaned[field_name] = [CREDENTIAL_REMOVED, value[1]]
    return cleaned


def _credentials_in(reason: str, changes: dict[str, Any], scan: _Scan) -> dict[str, list[str]]:
    """The last line of defence: whatever a service forgot to check, the audit trail
    (which is kept forever) refuses to record a credential, and the change with it."""
    found: dict[str, list[str]] = {}
    for field_name, value in [("reason", reason), *changes.items()]:
        for text in _texts(value):
            if errors := scan(field_name, text):
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
    """Append events in order under one lock of the chain head: the events are built and
    hashed in one pass and written in one statement (COPY on PostgreSQL), one round trip
    per batch instead of three per event (an import appends a hundred thousand, the
    sweep escalates thousands at a time)."""
    if not connection.in_atomic_block:
        # An event written outside the change's transaction could survive a rolled-back
        # change (or be lost with a committed one): refuse loudly, this is a bug.
        raise RuntimeError("audit_record must run inside the transaction of the change")
    if not entries:
        return []
    hold_writer_lock()  # before the chain's head: runtime/writer_lock.py says why
    head, _ = AuditChainHead.objects.select_for_update().get_or_create(pk=1)
    seq, prev_hash = head.last_seq, head.last_hash or GENESIS_HASH
    fixed = {
        "created_at": now,
        "actor_type": actor.kind,
        "actor_user_id": actor.user.pk if actor.user is not None else None,
        "actor_label": actor.label[:200],
        "request_id": current_request_id(),
    }
    scan = _Scan()
    events, texts = [], []
    for entry in entries:
        seq += 1
        obj = entry.obj
        path = entry.path if entry.path is not None else obj
        changes = _without_removed_credentials(jsonable(dict(entry.changes)), scan)
        if found := _credentials_in(entry.reason, changes, scan):
            raise Invalid(found)
        event = _event(
            fixed,
            seq=seq,
            action=entry.action,
            object_type=_object_type(obj),
            object_id=str(obj.pk),
            path_id=path.pk if isinstance(path, AccessPath) else None,
            changes=changes,
            reason=entry.reason,
            prev_hash=prev_hash,
            salt=new_salt(),
            hash="",  # computed next, from everything else
            purged={},
        )
        event.hash, text = new_event_hash(event)
        prev_hash = event.hash
        events.append(event)
        texts.append(text)
    _insert(events, texts)
    AuditChainHead.objects.filter(pk=1).update(last_seq=seq, last_hash=prev_hash)
    return events


def _event(fixed: dict[str, Any], **values: Any) -> AuditEvent:
    """An AuditEvent built from its columns positionally (half the cost of Django's
    keyword initialisation, which resolves each name)."""
    values |= fixed
    build: Callable[..., AuditEvent] = AuditEvent  # positional: typed per column, not by name
    return build(*[values[name] for name in _attnames()])


@cache
def _attnames() -> tuple[str, ...]:
    return tuple(field.attname for field in AuditEvent._meta.concrete_fields)


def _insert(events: list[AuditEvent], texts: list[str]) -> None:
    """PostgreSQL: one INSERT of the batch as one JSON document (runtime/recordset.py),
    the changes as the very JSON text their hash was computed over. SQLite:
    bulk_create."""
    if connection.vendor != "postgresql":
        AuditEvent.objects.bulk_create(events)
        return
    names = _attnames()
    at_changes, at_purged = names.index("changes"), names.index("purged")
    rows = []
    for event, text in zip(events, texts, strict=True):
        row = [getattr(event, name) for name in names]
        row[at_changes], row[at_purged] = text, {}  # nothing purged yet
        rows.append(row)
    with connection.cursor() as cursor:
        cursor.execute(_insert_sql(), [rows_document(names, rows)])


@cache
def _insert_sql() -> str:
    return recordset_insert_sql(AuditEvent, _attnames(), json_text=("changes",))
