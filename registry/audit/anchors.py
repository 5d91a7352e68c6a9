"""Signed chain heads kept outside the database, and checking the chain against them.

Someone holding the database can rewrite an event and recompute every later hash: the
chain then agrees with itself and `verify_chain` passes. Anchors catch that. On a
schedule (and with every evidence pack) the chain head is signed with a key that is not
in the database (`registry.audit.signing`) and appended to a local append-only sink:

    NHI_AUDIT_ANCHOR_DIR/anchors.jsonl            one signed statement per line
    NHI_AUDIT_ANCHOR_DIR/segments/N-F-T-R.jsonl   {"seq", "hash"} of events F..T, read-only

Each statement names the head (seq, hash), when, the key, its own number, the SHA-256
of the statement before it (so a dropped, reordered or replayed statement shows) and the
SHA-256 of its segment (the hashes of the events since the previous anchor), so a later
rewrite is reported at the exact first event that no longer matches. `workers.siem`
forwards the statements to a SIEM webhook as well; without segments (the SIEM's copy)
the check covers the anchored heads only, and says so. The directory should live on
storage the database's administrators cannot rewrite (a WORM mount, `chattr +a`).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.conf import settings

from registry.audit import signing
from registry.audit.chain import canonical
from registry.models import AuditChainHead, AuditEvent

STATEMENT_KIND = "nhi-registry/audit-anchor"
ANCHORS_FILE = "anchors.jsonl"
SEGMENTS_DIR = "segments"
SEGMENT_NAME = re.compile(r"^\d{8}-\d{12}-\d{12}-[0-9a-f]{8}\.jsonl$")


def anchor_dir() -> Path:
    return Path(settings.NHI_AUDIT_ANCHOR_DIR)


def _siem_offset_file() -> Path:
    # Beside the sink, not in it: an append-only directory cannot have a file replaced.
    directory = anchor_dir()
    return directory.with_name(directory.name + ".siem-offset")


@contextmanager
def sink_lock() -> Iterator[None]:
    """One writer at a time per sink (beat, evidence packs, commands, SIEM pushes)."""
    directory = anchor_dir()
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / "anchors.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def line_digest(record: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(record).encode()).hexdigest()


def read_records(path: Path) -> tuple[list[dict[str, Any]], list[int]]:
    """The readable statements in order, and the line numbers that were not readable
    (a write cut short by a full disk): those vouch for nothing, and the `previous`
    link of the statement after them shows whether a real one went missing."""
    if not path.exists():
        return [], []
    records, unreadable = [], []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            unreadable.append(number)
            continue
        if isinstance(record, dict) and isinstance(record.get("statement"), dict):
            records.append(record)
        else:
            unreadable.append(number)
    return records, unreadable


def _write_segment(directory: Path, number: int, after_seq: int, head_seq: int) -> dict | None:
    if head_seq <= after_seq:
        return None
    # Numbered by anchor plus a random tail: a restored backup or a crash between
    # writing a segment and its statement can never collide with an earlier file.
    name = f"{number:08d}-{after_seq + 1:012d}-{head_seq:012d}-{secrets.token_hex(4)}.jsonl"
    path = directory / SEGMENTS_DIR / name
    path.parent.mkdir(parents=True, exist_ok=True)
    events = (
        AuditEvent.objects.filter(seq__gt=after_seq, seq__lte=head_seq)
        .order_by("seq")
        .values_list("seq", "hash")
    )
    digest = hashlib.sha256()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "wb") as handle:
        for seq, event_hash in events.iterator(chunk_size=5000):
            line = (canonical({"seq": seq, "hash": event_hash}) + "\n").encode()
            digest.update(line)
            handle.write(line)
    path.chmod(0o444)
    return {
        "from_seq": after_seq + 1,
        "to_seq": head_seq,
        "file": name,
        "sha256": digest.hexdigest(),
    }


def anchor_now(
    *, now: dt.datetime, evidence_manifest_sha256: str | None = None
) -> dict[str, Any] | None:
    """Sign the chain head and append it to the local sink; None when nothing is new.

    An evidence pack always gets a statement (naming its manifest), new events or not."""
    directory = anchor_dir()
    key = signing.private_key()
    with sink_lock():
        path = directory / ANCHORS_FILE
        records, _ = read_records(path)
        last = records[-1]["statement"] if records else None
        last_seq = last["seq"] if last else 0
        head = AuditChainHead.objects.filter(pk=1).first()
        if head is None or head.last_seq == 0:
            return None
        if head.last_seq == last_seq and evidence_manifest_sha256 is None:
            return None
        number = (last["number"] + 1) if last else 1
        statement: dict[str, Any] = {
            "kind": STATEMENT_KIND,
            "version": 1,
            "number": number,
            "previous": line_digest(records[-1]) if records else None,
            "seq": head.last_seq,
            "hash": head.last_hash,
            "anchored_at": now.astimezone(dt.UTC).isoformat(),
            "key_id": signing.key_id(key.public_key()),
            "segment": _write_segment(
                directory, number, min(last_seq, head.last_seq), head.last_seq
            ),
        }
        if evidence_manifest_sha256:
            statement["evidence_manifest_sha256"] = evidence_manifest_sha256
        record = {
            "statement": statement,
            "signature": signing.sign(key, canonical(statement).encode()),
        }
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        with os.fdopen(fd, "a+") as handle:
            handle.seek(0, os.SEEK_END)
            # After a write cut short, start on a fresh line (the fragment stays, unread).
            partial = handle.tell() > 0 and not path.read_bytes().endswith(b"\n")
            handle.write(("\n" if partial else "") + canonical(record) + "\n")
    return record


# --- forwarding to the SIEM (the sending itself is workers.siem) ------------------------


def unsent_to_siem() -> tuple[list[dict[str, Any]], int]:
    """Statements the SIEM has not acknowledged yet, and the offset to store once it has."""
    records, _ = read_records(anchor_dir() / ANCHORS_FILE)
    offset_file = _siem_offset_file()
    sent = int(offset_file.read_text() or 0) if offset_file.exists() else 0
    return records[sent:], len(records)


def mark_sent_to_siem(offset: int) -> None:
    path = _siem_offset_file()
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(str(offset))
    tmp.replace(path)


# --- verifying the database against anchors ---------------------------------------------


@dataclass(frozen=True)
class AnchorReport:
    anchors: int
    events_checked: int
    broken_seq: int | None = None
    problem: str = ""
    heads_only: bool = False
    unreadable_lines: tuple[int, ...] = ()

    @property
    def intact(self) -> bool:
        return self.broken_seq is None and not self.problem


@dataclass(frozen=True)
class _Expected:
    seq: int
    hash: str
    anchored_at: str


def _load(source: Path) -> tuple[Path, Path]:
    """(anchors file, segments directory) for a sink directory or one anchors file."""
    if source.is_dir():
        return source / ANCHORS_FILE, source / SEGMENTS_DIR
    return source, source.parent / SEGMENTS_DIR


def _segment_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _statement_problem(
    number: int, record: dict[str, Any], previous: dict[str, Any] | None, key: Ed25519PublicKey
) -> str:
    statement = record["statement"]
    message = canonical(statement).encode()
    if not signing.signature_valid(key, message, str(record.get("signature", ""))):
        return f"anchor {number}: the signature does not verify with this public key"
    if statement.get("kind") != STATEMENT_KIND or statement.get("number") != number:
        return f"anchor {number}: not statement number {number} of an NHI Registry sink"
    if statement.get("previous") != (line_digest(previous) if previous else None):
        return f"anchor {number}: does not follow anchor {number - 1} (one was dropped or moved)"
    segment = statement.get("segment")
    if segment is not None and not SEGMENT_NAME.match(str(segment.get("file", ""))):
        return f"anchor {number}: names a segment file that is not a segment"
    expected_start = min(previous["statement"]["seq"], statement["seq"]) + 1 if previous else 1
    if segment is not None and segment["from_seq"] != expected_start:
        return f"anchor {number}: its segment does not start where anchor {number - 1} ended"
    return ""


def _expected(records: list[dict[str, Any]], segments: Path) -> Iterator[_Expected]:
    """Every (seq, hash) the statements vouch for, in order, streamed from the segments."""
    last = 0
    for record in records:
        statement = record["statement"]
        when = statement["anchored_at"]
        segment = statement.get("segment")
        if segment and (segments / segment["file"]).exists():
            with (segments / segment["file"]).open() as handle:
                for line in handle:
                    item = json.loads(line)
                    if item["seq"] > last:
                        last = item["seq"]
                        yield _Expected(item["seq"], item["hash"], when)
        if statement["seq"] > last:
            last = statement["seq"]
            yield _Expected(statement["seq"], statement["hash"], when)


def verify_anchors(source: Path, public_key: Ed25519PublicKey) -> AnchorReport:
    """Does the database chain still extend every anchored event? Names the first that
    no longer matches (or is missing)."""
    anchors_file, segments = _load(source)
    records, unreadable = read_records(anchors_file)
    if not records:
        return AnchorReport(0, 0, problem=f"no anchors found in {source}")
    heads_only = False
    for number, record in enumerate(records, start=1):
        previous = records[number - 2] if number > 1 else None
        if problem := _statement_problem(number, record, previous, public_key):
            return AnchorReport(len(records), 0, problem=problem)
        segment = record["statement"].get("segment")
        if segment is None:
            continue
        path = segments / segment["file"]
        if not path.exists():
            heads_only = True
        elif _segment_digest(path) != segment["sha256"]:
            return AnchorReport(
                len(records), 0, problem=f"anchor {number}: segment {segment['file']} was altered"
            )
    first = records[0]["statement"]
    start = (first.get("segment") or {}).get("from_seq", first["seq"])
    stored = (
        AuditEvent.objects.filter(seq__gte=start, seq__lte=records[-1]["statement"]["seq"])
        .order_by("seq")
        .values_list("seq", "hash")
        .iterator(chunk_size=5000)
    )
    current = next(stored, None)
    checked = 0
    for anchored in _expected(records, segments):
        while current is not None and current[0] < anchored.seq:
            current = next(stored, None)
        if current is None or current[0] != anchored.seq:
            problem = f"event #{anchored.seq}, anchored at {anchored.anchored_at}, is missing"
            return AnchorReport(len(records), checked, anchored.seq, problem, heads_only)
        if current[1] != anchored.hash:
            problem = (
                f"event #{anchored.seq} no longer matches the anchor signed at "
                f"{anchored.anchored_at} (anchored {anchored.hash[:12]}…, now "
                f"{current[1][:12]}…): the chain was rewritten "
                + ("at or before this event" if heads_only else "from this event on")
            )
            return AnchorReport(len(records), checked, anchored.seq, problem, heads_only)
        checked += 1
    return AnchorReport(
        len(records), checked, heads_only=heads_only, unreadable_lines=tuple(unreadable)
    )
