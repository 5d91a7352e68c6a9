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
from functools import lru_cache
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


# What json.dumps writes for a str with ensure_ascii=False (the C encoder, when present).
_text = json.encoder.encode_basestring
_SCALARS: dict[Any, str] = {None: "null", True: "true", False: "false"}


def _scalar(value: Any) -> str | None:
    """The canonical JSON of a plain str, None, bool or int, else None. Exactly what
    json.dumps writes for them, without building an encoder: an import appends a
    hundred thousand events of a dozen values each."""
    kind = type(value)
    if kind is str:
        return _text(value)
    if kind is bool or value is None:
        return _SCALARS[value]
    if kind is int:
        return int.__repr__(value)
    return None


def canonical(value: Any) -> str:
    """Sorted, compact, unescaped JSON: the one encoding every hash covers. Plain
    values and flat lists of them (a change's [before, after]) are written directly,
    the same text as json.dumps (tests/audit/test_append.py pins it); anything else
    goes through json.dumps."""
    text = _scalar(value)
    if text is not None:
        return text
    if type(value) is list:
        items = [_scalar(item) for item in value]
        plain = [item for item in items if item is not None]
        if len(plain) == len(items):
            return "[" + ",".join(plain) + "]"
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def commitment(salt: str, slot: str, value: Any) -> str:
    return _committed(hashlib.sha256(bytes.fromhex(salt)), slot, canonical(value))


def _committed(salted: Any, slot: str, text: str) -> str:
    """The commitment of a value's canonical `text`, from a SHA-256 state that has taken
    the salt (an event's slots each take a copy of one such state)."""
    salted.update(_slot_prefix(slot) + text.encode())
    return salted.hexdigest()


@lru_cache(maxsize=1024)  # the slots are the columns and the fields a change names
def _slot_prefix(slot: str) -> bytes:
    return slot.encode() + b"\x00"


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
    salted = hashlib.sha256(bytes.fromhex(event.salt))
    return {
        slot: purged[slot]["commitment"]
        if slot in purged
        else _committed(salted.copy(), slot, canonical(value))
        for slot, value in slot_values(event)
    }


def event_hash(event: HashableEvent) -> str:
    return _chained(event, slot_commitments(event))


def new_event_hash(event: HashableEvent) -> tuple[str, str]:
    """An event being appended (nothing purged): its hash, and its changes as JSON text
    to store. Each value is encoded once for both: its canonical JSON is what its
    commitment covers and what the stored document holds."""
    salted = hashlib.sha256(bytes.fromhex(event.salt))
    commitments = {
        column: _committed(salted.copy(), column, canonical(getattr(event, column)))
        for column in VALUE_COLUMNS
    }
    members = []
    for key, value in (event.changes or {}).items():
        text = canonical(value)
        commitments[CHANGES_PREFIX + key] = _committed(salted.copy(), CHANGES_PREFIX + key, text)
        members.append(f"{_text(key)}:{text}")
    return _chained(event, commitments), "{" + ",".join(members) + "}"


def _chained(event: HashableEvent, commitments: dict[str, str]) -> str:
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
        "commitments": commitments,
        "prev_hash": event.prev_hash,
    }
    return hashlib.sha256(canonical(payload).encode()).hexdigest()
