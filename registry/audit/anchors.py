"""Signed chain heads kept outside the database, and checking the chain against them.

Someone holding the database can rewrite an event and recompute every later hash: the
chain then agrees with itself and `verify_chain` passes. Anchors catch that. On a
schedule (and with every evidence pack) the chain head is signed with a key that is not
in the database (`registry.audit.signing`) and appended to a local append-only sink:

    NHI_AUDIT_ANCHOR_DIR/anchors.jsonl          one signed statement per line
    NHI_AUDIT_ANCHOR_DIR/segments/N-F-T.jsonl   {"seq", "hash"} of events F..T, read-only

Each statement names the head (seq, hash), when, the key and the SHA-256 of its segment
(the hashes of the events since the previous anchor), so a later rewrite is reported at
the exact first event that no longer matches. `workers.siem` forwards the statements to a
SIEM webhook as well. The directory should live on storage the database's administrators
cannot rewrite (a WORM bucket mount, `chattr +a`, another host).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
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
SIEM_OFFSET_FILE = "siem.offset"


def anchor_dir() -> Path:
    return Path(settings.NHI_AUDIT_ANCHOR_DIR)


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """One anchoring at a time per sink (beat, evidence packs and commands may overlap)."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / "anchors.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _records(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _write_segment(
    directory: Path, number: int, after_seq: int, head_seq: int
) -> dict[str, Any] | None:
    if head_seq <= after_seq:
        return None
    # Numbered by anchor, so a chain restored from a backup can never collide with an
    # earlier segment's name.
    name = f"{number:08d}-{after_seq + 1:012d}-{head_seq:012d}.jsonl"
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
    with _locked(directory):
        records = _records(directory / ANCHORS_FILE)
        last_seq = records[-1]["statement"]["seq"] if records else 0
        head = AuditChainHead.objects.filter(pk=1).first()
        if head is None or head.last_seq == 0:
            return None
        if head.last_seq == last_seq and evidence_manifest_sha256 is None:
            return None
        statement: dict[str, Any] = {
            "kind": STATEMENT_KIND,
            "version": 1,
            "seq": head.last_seq,
            "hash": head.last_hash,
            "anchored_at": now.astimezone(dt.UTC).isoformat(),
            "key_id": signing.key_id(key.public_key()),
            "segment": _write_segment(
                directory, len(records) + 1, min(last_seq, head.last_seq), head.last_seq
            ),
        }
        if evidence_manifest_sha256:
            statement["evidence_manifest_sha256"] = evidence_manifest_sha256
        record = {
            "statement": statement,
            "signature": signing.sign(key, canonical(statement).encode()),
        }
        fd = os.open(directory / ANCHORS_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        with os.fdopen(fd, "a") as handle:
            handle.write(canonical(record) + "\n")
    return record


# --- forwarding to the SIEM (the sending itself is workers.siem) ------------------------


def unsent_to_siem() -> tuple[list[dict[str, Any]], int]:
    """Statements the SIEM has not acknowledged yet, and the offset to store once it has."""
    directory = anchor_dir()
    records = _records(directory / ANCHORS_FILE)
    offset_file = directory / SIEM_OFFSET_FILE
    sent = int(offset_file.read_text() or 0) if offset_file.exists() else 0
    return records[sent:], len(records)


def mark_sent_to_siem(offset: int) -> None:
    path = anchor_dir() / SIEM_OFFSET_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(str(offset))
    tmp.replace(path)


# --- verifying the database against anchors ---------------------------------------------


@dataclass(frozen=True)
class AnchorReport:
    anchors: int
    events_checked: int
    broken_seq: int | None = None
    problem: str = ""

    @property
    def intact(self) -> bool:
        return self.broken_seq is None and not self.problem


@dataclass(frozen=True)
class _Expected:
    seq: int
    hash: str
    anchored_at: str


def _load(source: Path) -> tuple[list[dict[str, Any]], Path]:
    """Statements from a sink directory, or one anchors file (its segments beside it)."""
    if source.is_dir():
        return _records(source / ANCHORS_FILE), source / SEGMENTS_DIR
    return _records(source), source.parent / SEGMENTS_DIR


def _expected(
    records: list[dict[str, Any]], segments: Path, key: Ed25519PublicKey
) -> tuple[list[_Expected], str]:
    """Every (seq, hash) the signed statements vouch for, in order; or the first problem."""
    wanted: dict[int, _Expected] = {}
    for number, record in enumerate(records, start=1):
        statement = record.get("statement") or {}
        message = canonical(statement).encode()
        if not signing.signature_valid(key, message, str(record.get("signature", ""))):
            return [], f"anchor {number}: the signature does not verify with this public key"
        when = statement["anchored_at"]
        segment = statement.get("segment")
        if segment and (segments / segment["file"]).exists():
            body = (segments / segment["file"]).read_bytes()
            if hashlib.sha256(body).hexdigest() != segment["sha256"]:
                return [], f"anchor {number}: segment {segment['file']} was altered"
            for line in body.splitlines():
                item = json.loads(line)
                wanted.setdefault(item["seq"], _Expected(item["seq"], item["hash"], when))
        wanted.setdefault(statement["seq"], _Expected(statement["seq"], statement["hash"], when))
    return [wanted[seq] for seq in sorted(wanted)], ""


def verify_anchors(source: Path, public_key: Ed25519PublicKey) -> AnchorReport:
    """Does the database chain still extend every anchored event? Names the first that
    no longer matches (or is missing)."""
    records, segments = _load(source)
    if not records:
        return AnchorReport(0, 0, problem=f"no anchors found in {source}")
    expected, problem = _expected(records, segments, public_key)
    if problem:
        return AnchorReport(len(records), 0, problem=problem)
    stored = (
        AuditEvent.objects.filter(seq__gte=expected[0].seq, seq__lte=expected[-1].seq)
        .order_by("seq")
        .values_list("seq", "hash")
        .iterator(chunk_size=5000)
    )
    current = next(stored, None)
    for checked, anchored in enumerate(expected):
        while current is not None and current[0] < anchored.seq:
            current = next(stored, None)
        if current is None or current[0] != anchored.seq:
            return AnchorReport(
                len(records),
                checked,
                anchored.seq,
                f"event #{anchored.seq}, anchored at {anchored.anchored_at}, is missing",
            )
        if current[1] != anchored.hash:
            return AnchorReport(
                len(records),
                checked,
                anchored.seq,
                f"event #{anchored.seq} no longer matches the anchor signed at "
                f"{anchored.anchored_at} (anchored {anchored.hash[:12]}…, now "
                f"{current[1][:12]}…): the chain was rewritten from this event on",
            )
    return AnchorReport(len(records), len(expected))
