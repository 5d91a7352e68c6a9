"""How an audit event is hashed: commitments of its values, chained by `prev_hash`.

An event's hash covers its fixed facts (sequence, time, actor, action, object, path,
previous hash) and a *commitment* of each value that might one day have to go: the actor
label, the reason, the request id and each changed field. A commitment is
SHA-256(salt ‖ slot ‖ 0x00 ‖ canonical JSON of the value), with a random salt per event,
so a value can be replaced by the `[purged]` marker while its commitment is kept in
`purged`: the hash still recomputes and `verify_audit` still passes, but the value is
gone. The salt makes a purged low-entropy value impossible to confirm by guessing a
dictionary offline against the commitment.

Pure functions over plain attributes, so the migration that rehashed the old chain
(0008) and the live code compute exactly the same thing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from collections.abc import Iterator
from typing import Any, Protocol

GENESIS_HASH = "0" * 64
# What a purged value reads as, everywhere: pages, API, exports, evidence packs.
PURGED = "[purged]"
# The columns whose values may be purged; each changed field is a slot "changes.<field>".
VALUE_COLUMNS = ("actor_label", "reason", "request_id")
CHANGES_PREFIX = "changes."
SCHEME_VERSION = 2


class HashableEvent(Protocol):
    seq: int
    created_at: dt.datetime
    actor_type: str
    actor_user_id: int | None
    actor_label: str
    action: str
    object_type: str
    object_id: str
    path_id: Any
    changes: dict[str, Any]
    reason: str
    request_id: str
    prev_hash: str
    salt: str
    purged: dict[str, Any]


def new_salt() -> str:
    return secrets.token_hex(16)


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def commitment(salt: str, slot: str, value: Any) -> str:
    digest = hashlib.sha256(bytes.fromhex(salt))
    digest.update(slot.encode())
    digest.update(b"\x00")
    digest.update(canonical(value).encode())
    return digest.hexdigest()


def slot_values(event: HashableEvent) -> Iterator[tuple[str, Any]]:
    """Every purgeable value of an event, by slot name."""
    for column in VALUE_COLUMNS:
        yield column, getattr(event, column)
    for key, value in (event.changes or {}).items():
        yield CHANGES_PREFIX + key, value


def slot_value(event: HashableEvent, slot: str) -> Any:
    if slot.startswith(CHANGES_PREFIX):
        return (event.changes or {}).get(slot.removeprefix(CHANGES_PREFIX))
    return getattr(event, slot)


def purged_form(value: Any) -> Any:
    """What a purged value is replaced by: a before/after pair keeps its shape."""
    if isinstance(value, list) and len(value) == 2:
        return [PURGED, PURGED]
    return PURGED


def slot_commitments(event: HashableEvent) -> dict[str, str]:
    """The commitment of every slot: recomputed from the value, or kept from the purge."""
    purged = event.purged or {}
    return {
        slot: purged[slot]["commitment"] if slot in purged else commitment(event.salt, slot, value)
        for slot, value in slot_values(event)
    }


def event_hash(event: HashableEvent) -> str:
    payload = {
        "v": SCHEME_VERSION,
        "seq": event.seq,
        "created_at": event.created_at.astimezone(dt.UTC).isoformat(),
        "actor_type": event.actor_type,
        "actor_user_id": event.actor_user_id,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "path_id": str(event.path_id) if event.path_id else None,
        "salt": event.salt,
        "commitments": slot_commitments(event),
        "prev_hash": event.prev_hash,
    }
    return hashlib.sha256(canonical(payload).encode()).hexdigest()
