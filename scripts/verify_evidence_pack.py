#!/usr/bin/env python3
"""Verify an NHI Registry evidence pack offline: no database, no registry install.

    python3 verify_evidence_pack.py PACK.zip --public-key audit-public-key.pem \
        [--anchors anchors.jsonl]

Needs Python 3.11 and the `cryptography` package. Checks, in order:
1. every CSV's SHA-256 matches manifest.json;
2. anchor.json is signed by the registry's anchor key (use the public key the registry's
   operators published or your SIEM holds, not only the copy inside the pack);
3. the signed anchor names this manifest's SHA-256, and a chain head at or after the
   one the manifest reports;
4. with --anchors (the SIEM's or the anchor directory's copy): the very same signed
   statement is in it, so the pack was anchored outside the registry's database;
5. the per-control summary adds up: in controls.csv every control's percentage is its
   passing paths over the live paths (one decimal, half up), every statement says that
   percentage, and manifest.json's statements are controls.csv's.
Exit status 0 when all hold; 1 with the first failure otherwise.
"""

from __future__ import annotations

import argparse
import base64
import csv
import hashlib
import io
import json
import sys
import zipfile
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def fail(message: str) -> None:
    print(f"FAILED: {message}")
    sys.exit(1)


def percent(part: int, whole: int) -> str:
    if not whole:
        return ""
    return str((Decimal(100 * part) / Decimal(whole)).quantize(Decimal("0.1"), ROUND_HALF_UP))


def check_controls(manifest: dict, controls_csv: bytes) -> None:
    rows = list(csv.DictReader(io.StringIO(controls_csv.decode("utf-8"), newline="")))
    summary = manifest.get("controls") or {}
    live = summary.get("live_paths")
    for row in rows:
        name, passing, whole = row["control"], int(row["passing"]), int(row["live_paths"])
        if whole != live or not 0 <= passing <= whole:
            fail(f"controls.csv: {name} counts {passing} of {whole} live paths, not of {live}")
        expected = percent(passing, whole)
        if row["percent"] != expected:
            fail(f"controls.csv: {name} says {row['percent']}%, {passing}/{whole} is {expected}%")
        if expected and not row["statement"].startswith(f"{name}: {expected}% of live paths "):
            fail(f"controls.csv: the statement of {name} does not say {expected}%")
    if [row["statement"] for row in rows] != summary.get("statements"):
        fail("manifest.json's control statements are not controls.csv's")
    print(f"ok: {len(rows)} control figures add up over {live} live paths")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("pack")
    parser.add_argument("--public-key", required=True)
    parser.add_argument("--anchors")
    args = parser.parse_args()

    key = serialization.load_pem_public_key(Path(args.public_key).read_bytes())
    if not isinstance(key, Ed25519PublicKey):
        fail("the public key is not an Ed25519 key")
    with zipfile.ZipFile(args.pack) as pack:
        manifest_bytes = pack.read("manifest.json")
        manifest = json.loads(manifest_bytes)
        extra = set(pack.namelist()) - set(manifest["files"]) - {
            "manifest.json", "anchor.json", "audit-public-key.pem"
        }  # fmt: skip
        if extra:
            fail(f"the pack holds files its manifest does not list: {', '.join(sorted(extra))}")
        for name, facts in manifest["files"].items():
            if hashlib.sha256(pack.read(name)).hexdigest() != facts["sha256"]:
                fail(f"{name} does not match its SHA-256 in manifest.json")
        print(f"ok: {len(manifest['files'])} files match manifest.json")
        record = json.loads(pack.read("anchor.json"))
        controls_csv = pack.read("controls.csv") if "controls.csv" in manifest["files"] else None
    statement = record.get("statement") or {}
    if statement.get("kind") != "nhi-registry/audit-anchor":
        fail("anchor.json is not an NHI Registry audit anchor")
    try:
        key.verify(
            base64.b64decode(record.get("signature", ""), validate=True),
            canonical(statement).encode(),
        )
    except (InvalidSignature, ValueError):
        fail("anchor.json is not signed by this public key")
    print(f"ok: anchor signed by key {statement['key_id']} at {statement['anchored_at']}")
    if statement.get("evidence_manifest_sha256") != hashlib.sha256(manifest_bytes).hexdigest():
        fail("the anchor does not name this manifest")
    if statement["seq"] < manifest["audit_chain"]["head_seq"]:
        fail("the anchored chain head is older than the manifest's")
    print(
        f"ok: anchor names this manifest; chain head #{manifest['audit_chain']['head_seq']} "
        f"reported, #{statement['seq']} anchored"
    )
    if args.anchors:
        text = Path(args.anchors).read_text()
        lines = [json.loads(line) for line in text.splitlines() if line.strip()]
        if not any(canonical(line) == canonical(record) for line in lines):
            fail(f"the pack's anchor is not in {args.anchors}")
        print(f"ok: the same signed anchor is in {args.anchors}")
    if controls_csv is not None:
        check_controls(manifest, controls_csv)
    print("Evidence pack verified.")


if __name__ == "__main__":
    main()
