"""Signed anchors outside the database catch a chain rewritten end to end.

The attack: with the database in hand, disable the append-only trigger, change who did
something (pat -> sam), recompute every later hash and the head, re-enable the trigger.
The chain then agrees with itself (`verify_chain` says intact); the anchors do not.
"""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from standardwebhooks.webhooks import Webhook

from registry.audit import event_hash, verify_chain
from registry.audit.anchors import anchor_now, verify_anchors
from registry.audit.signing import load_public_key, private_key, public_key_pem
from registry.models import AuditChainHead, AuditEvent
from tests.assertions import audit_trigger_disabled
from tests.conftest import NOW
from tests.support_http import Receiver
from workers.siem import publish_anchors

WEBHOOK_SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # base64 of 24 bytes


def sink() -> Path:
    return Path(settings.NHI_AUDIT_ANCHOR_DIR)


def public_key():
    return private_key().public_key()


@pytest.fixture
def chain(personas, make_path):
    for n in range(3):
        make_path(name=f"billing-export-{n}", external_id=f"arn:aws:iam::1:user/billing-{n}")
    return AuditEvent.objects.count()


def rewrite_history(seq: int, **edits) -> None:
    """The forger: edit one event, recompute every later hash and the head."""
    with audit_trigger_disabled():
        events = list(AuditEvent.objects.filter(seq__gte=seq).order_by("seq"))
        prev = AuditEvent.objects.get(seq=seq - 1).hash if seq > 1 else "0" * 64
        for event in events:
            if event.seq == seq:
                for field, value in edits.items():
                    setattr(event, field, value)
            event.prev_hash = prev
            event.hash = prev = event_hash(event)
        for event in events:
            AuditEvent.objects.filter(seq=event.seq).update(
                **(edits if event.seq == seq else {}), prev_hash=event.prev_hash, hash=event.hash
            )
        AuditChainHead.objects.update(last_seq=events[-1].seq, last_hash=events[-1].hash)


def test_anchor_signs_the_head_and_records_the_segment(chain):
    record = anchor_now(now=NOW)
    statement = record["statement"]
    head = AuditChainHead.objects.get()
    assert (statement["seq"], statement["hash"]) == (head.last_seq, head.last_hash)
    assert statement["segment"]["from_seq"] == 1
    assert statement["segment"]["to_seq"] == chain
    lines = (sink() / "anchors.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [record]
    segment = sink() / "segments" / statement["segment"]["file"]
    assert len(segment.read_text().splitlines()) == chain
    assert not segment.stat().st_mode & 0o222, "a segment is read-only once written"
    # Nothing new since: nothing written.
    assert anchor_now(now=NOW) is None
    assert len((sink() / "anchors.jsonl").read_text().splitlines()) == 1


def test_later_anchors_continue_where_the_last_ended(chain, make_path):
    first = anchor_now(now=NOW)["statement"]
    make_path(name="late-path", external_id="arn:aws:iam::1:user/late")
    second = anchor_now(now=NOW)["statement"]
    assert second["segment"]["from_seq"] == first["seq"] + 1
    assert second["segment"]["to_seq"] == second["seq"] == AuditEvent.objects.count()
    report = verify_anchors(sink(), public_key())
    assert report.intact, report.problem
    assert report.anchors == 2
    assert report.events_checked == second["seq"]


def test_a_rewritten_chain_passes_alone_and_fails_against_its_anchors(chain, personas):
    anchor_now(now=NOW)
    victim = AuditEvent.objects.filter(actor_label="test-setup").order_by("seq")[3]
    rewrite_history(victim.seq, actor_label="sam")
    assert verify_chain().intact, "the forgery is consistent with itself"
    report = verify_anchors(sink(), public_key())
    assert not report.intact
    assert report.broken_seq == victim.seq
    assert f"event #{victim.seq} no longer matches the anchor signed at" in report.problem
    with pytest.raises(CommandError, match=f"event #{victim.seq} no longer matches"):
        call_command("verify_audit", "--anchors", str(sink()), stdout=StringIO())


def test_the_command_with_a_public_key_file_and_an_anchors_file(chain, tmp_path):
    anchor_now(now=NOW)
    key_file = tmp_path / "audit-public.pem"
    key_file.write_text(public_key_pem(public_key()))
    out = StringIO()
    call_command(
        "verify_audit",
        "--anchors",
        str(sink() / "anchors.jsonl"),
        "--public-key",
        str(key_file),
        stdout=out,
    )
    assert f"Anchors match: 1 signed anchors, {chain} anchored events" in out.getvalue()


def test_a_forged_anchor_or_another_key_is_refused(chain, tmp_path):
    anchor_now(now=NOW)
    path = sink() / "anchors.jsonl"
    record = json.loads(path.read_text())
    record["statement"]["hash"] = "f" * 64
    path.write_text(json.dumps(record) + "\n")
    report = verify_anchors(sink(), public_key())
    assert "signature does not verify" in report.problem
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    other = Ed25519PrivateKey.generate().public_key()
    assert "signature does not verify" in verify_anchors(sink(), other).problem
    assert load_public_key(public_key_pem(other).encode()) is not None


def test_an_altered_segment_is_reported(chain):
    statement = anchor_now(now=NOW)["statement"]
    segment = sink() / "segments" / statement["segment"]["file"]
    segment.chmod(0o644)
    first, *rest = segment.read_text().splitlines()
    forged = json.dumps({**json.loads(first), "hash": "0" * 64}, sort_keys=True)
    segment.write_text("\n".join([forged, *rest]) + "\n")
    assert "was altered" in verify_anchors(sink(), public_key()).problem


def test_missing_anchored_events_are_reported(chain):
    anchor_now(now=NOW)
    head = AuditChainHead.objects.get()
    # A database restored from a backup older than the anchor.
    with audit_trigger_disabled():
        AuditEvent.objects.filter(seq=head.last_seq).delete()
    report = verify_anchors(sink(), public_key())
    assert report.broken_seq == head.last_seq
    assert "is missing" in report.problem


def test_no_anchors_is_not_a_pass(db, tmp_path):
    assert not verify_anchors(tmp_path, public_key()).intact


def test_anchors_go_to_the_siem_signed_and_none_are_lost(chain, make_path, settings):
    server = Receiver()
    server.start()
    try:
        settings.NHI_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
        settings.NHI_AUDIT_ANCHOR_WEBHOOK_URL = server.url("/siem")
        settings.NHI_AUDIT_ANCHOR_WEBHOOK_SECRET = WEBHOOK_SECRET
        anchor_now(now=NOW)
        server.status = 503  # the SIEM is down: nothing is marked sent
        with pytest.raises(Exception, match="503"):
            publish_anchors()
        make_path(name="later", external_id="arn:aws:iam::1:user/later")
        anchor_now(now=NOW)
        server.status = 200
        assert publish_anchors() == 2
        assert publish_anchors() == 0
        accepted = server.to("/siem")[-1]
        body = Webhook(WEBHOOK_SECRET).verify(accepted.body, accepted.headers)
        assert body["type"] == "audit.anchor"
        lines = (sink() / "anchors.jsonl").read_text().splitlines()
        assert body["anchors"] == [json.loads(line) for line in lines]
    finally:
        server.stop()


def test_an_evidence_pack_is_anchored(chain, personas):
    import io
    import zipfile

    from registry.audit.chain import canonical
    from registry.selectors.evidence import build_evidence_pack, period_from_dates

    start, end = period_from_dates(NOW.date().replace(day=1), NOW.date().replace(day=28))
    out = io.BytesIO()
    manifest = build_evidence_pack(actor=personas.sam, start=start, end=end, now=NOW, out=out)
    with zipfile.ZipFile(out) as zf:
        anchor = json.loads(zf.read("anchor.json"))
        assert zf.read("audit-public-key.pem").decode() == public_key_pem(public_key())
    assert anchor["statement"]["evidence_manifest_sha256"] == manifest.sha256
    assert anchor["statement"]["seq"] == AuditChainHead.objects.get().last_seq
    lines = (sink() / "anchors.jsonl").read_text().splitlines()
    assert canonical(anchor) == lines[-1]


def test_an_auditor_verifies_a_pack_offline(chain, personas, tmp_path):
    import io
    import subprocess
    import sys
    import zipfile

    from registry.selectors.evidence import build_evidence_pack, period_from_dates

    start, end = period_from_dates(NOW.date().replace(day=1), NOW.date().replace(day=28))
    out = io.BytesIO()
    build_evidence_pack(actor=personas.sam, start=start, end=end, now=NOW, out=out)
    pack = tmp_path / "pack.zip"
    pack.write_bytes(out.getvalue())
    key_file = tmp_path / "published.pem"
    key_file.write_text(public_key_pem(public_key()))
    script = Path(settings.BASE_DIR) / "scripts" / "verify_evidence_pack.py"
    command = [sys.executable, str(script), str(pack), "--public-key", str(key_file)]
    ok = subprocess.run(  # noqa: S603 - our own script, our own arguments
        [*command, "--anchors", str(sink() / "anchors.jsonl")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "Evidence pack verified." in ok.stdout
    # One altered CSV and the pack no longer verifies.
    with zipfile.ZipFile(pack) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    members["paths.csv"] += b"forged,row\r\n"
    with zipfile.ZipFile(pack, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    bad = subprocess.run(command, capture_output=True, text=True, timeout=60)  # noqa: S603
    assert bad.returncode == 1
    assert "paths.csv does not match" in bad.stdout


def test_a_dropped_statement_is_reported(chain, make_path):
    anchor_now(now=NOW)
    make_path(name="second", external_id="arn:aws:iam::1:user/second")
    anchor_now(now=NOW)
    make_path(name="third", external_id="arn:aws:iam::1:user/third")
    anchor_now(now=NOW)
    path = sink() / "anchors.jsonl"
    first, _second, third = path.read_text().splitlines()
    path.write_text(first + "\n" + third + "\n")
    report = verify_anchors(sink(), public_key())
    assert "anchor 2: not statement number 2" in report.problem


def test_without_segments_only_the_heads_are_checked_and_it_says_so(chain, make_path):
    anchor_now(now=NOW)
    for segment in (sink() / "segments").iterdir():
        segment.chmod(0o644)
        segment.unlink()
    report = verify_anchors(sink(), public_key())
    assert report.intact and report.heads_only
    assert report.events_checked == 1
    out = StringIO()
    call_command("verify_audit", "--anchors", str(sink() / "anchors.jsonl"), stdout=out)
    assert "heads only" in out.getvalue()


def test_a_write_cut_short_does_not_stop_anchoring(chain, make_path):
    anchor_now(now=NOW)
    path = sink() / "anchors.jsonl"
    with path.open("a") as handle:
        handle.write('{"statement": {"kind": "nhi-registry/au')  # the disk filled up
    make_path(name="later", external_id="arn:aws:iam::1:user/later")
    assert anchor_now(now=NOW)["statement"]["number"] == 2
    report = verify_anchors(sink(), public_key())
    assert report.intact, report.problem
    assert report.unreadable_lines == (2,)


def test_no_signing_key_refuses_a_pack_before_writing_anything(chain, personas, settings):
    import io

    from django.core import checks

    from registry.rules.errors import Unavailable
    from registry.selectors.evidence import build_evidence_pack, period_from_dates

    settings.NHI_AUDIT_SIGNING_KEY_FILE = ""
    settings.DEBUG = False
    before = AuditEvent.objects.count()
    start, end = period_from_dates(NOW.date().replace(day=1), NOW.date().replace(day=28))
    out = io.BytesIO()
    with pytest.raises(Unavailable, match="NHI_AUDIT_SIGNING_KEY_FILE is not set"):
        build_evidence_pack(actor=personas.sam, start=start, end=end, now=NOW, out=out)
    assert out.getvalue() == b""
    assert AuditEvent.objects.count() == before
    assert "registry.W002" in [message.id for message in checks.run_checks()]
