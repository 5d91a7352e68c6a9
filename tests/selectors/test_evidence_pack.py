"""The auditor evidence pack (registry.selectors.evidence): a ZIP of CSV files and a
manifest for a period, built from an estate made through the services, with events
before and after the period that must stay out. Its command is
tests/ops/test_evidence_pack_command.py, its page tests/web/test_evidence_page.py."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import threading
import zipfile
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from registry import services
from registry.audit import verify_chain
from registry.models import AccessPath, Attestation, AuditChainHead, AuditEvent, PolicyException
from registry.rules import errors
from registry.rules.actors import Actor
from registry.rules.errors import Invalid, NotAllowed
from registry.rules.frameworks import CONTROLS
from registry.rules.policies import current_policy
from registry.rules.posture import RULES
from registry.selectors import evidence, path_get
from registry.selectors.evidence import PERIOD_INVALID, build_evidence_pack
from registry.selectors.frameworks import framework_summary
from tests.assertions import last_event, refused
from tests.conftest import JUSTIFICATION, NOW, TICKET
from tests.selectors.evidence_helpers import (
    CSV_MEMBERS,
    DAY,
    END,
    FORMULA,
    MEMBERS,
    PACK_NOW,
    START,
    T0,
    build,
    build_estate,
    in_period,
    iso,
    keep,
    members,
    table,
    tables,
    when,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def estate(personas, make_path, sid):
    return build_estate(personas, make_path, sid)


# --- the pack ------------------------------------------------------------------------


def test_members_manifest_and_the_audit_event(estate, personas):
    head = AuditChainHead.objects.get()
    manifest, data = build(personas.sam)
    files = members(data)
    assert list(files) == MEMBERS

    doc = json.loads(files["manifest.json"])
    assert doc["format"] == "nhi-evidence-pack/1"
    assert doc["registry_version"] == "0.1.0"
    assert doc["generated_at"] == "2027-03-01T12:00:00+00:00"
    assert doc["generated_by"] == "sam"
    assert doc["period"] == {
        "start": "2026-11-15T00:00:00+00:00",
        "end": "2027-02-20T00:00:00+00:00",
        "end_is_exclusive": True,
    }
    # The head before the pack's own event, and the chain verified up to it.
    assert doc["audit_chain"] == {
        "head_seq": head.last_seq,
        "head_hash": head.last_hash,
        "verified": {"ok": True, "checked": head.last_seq, "broken_seq": None, "problem": ""},
    }
    assert set(doc["files"]) == set(CSV_MEMBERS)
    for name in CSV_MEMBERS:
        assert doc["files"][name]["sha256"] == hashlib.sha256(files[name]).hexdigest()
        assert doc["files"][name]["rows"] == len(table(files[name], name))
    assert manifest.as_dict() == doc
    assert manifest.sha256 == hashlib.sha256(files["manifest.json"]).hexdigest()

    event = last_event()
    assert event.seq == head.last_seq + 1
    assert (event.action, event.actor_label, event.object_type, event.object_id) == (
        "evidence_pack.generated",
        "sam",
        "auditchainhead",
        "1",
    )
    assert event.created_at == PACK_NOW
    assert event.changes == {
        "period_start": [None, "2026-11-15T00:00:00+00:00"],
        "period_end": [None, "2027-02-20T00:00:00+00:00"],
        "chain_head_seq": [None, head.last_seq],
        "chain_head_hash": [None, head.last_hash],
        "chain_ok": [None, True],
        "manifest_sha256": [None, manifest.sha256],
    }
    assert verify_chain().intact

    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        infos = zf.infolist()
    assert {info.date_time for info in infos} == {(2027, 3, 1, 12, 0, 0)}
    assert {info.compress_type for info in infos} == {zipfile.ZIP_DEFLATED}


def test_paths_csv_lists_every_path_existing_at_the_end_with_status_now(estate, personas):
    rows = {row["name"]: row for row in tables(build(personas.sam)[1])["paths.csv"]}
    assert AccessPath.objects.count() == 8
    assert len(rows) == AccessPath.objects.filter(created_at__lt=END).count() == 7
    assert "late-path" not in rows
    assert {name: row["status"] for name, row in rows.items()} == {
        "billing-export": "active",
        "old-deploy-key": "awaiting_source",
        "'" + FORMULA: "lapsed",  # CSV injection neutralised
        "tmp-migration": "awaiting_source",
        "retired-bot": "awaiting_source",
        "legacy-etl": "overdue",
        "orphan-bot": "unowned",
    }
    for row in rows.values():
        assert row["status"] == path_get(actor=personas.sam, path_id=row["id"], now=PACK_NOW).status

    formula = AccessPath.objects.get(pk=estate.formula.pk)
    assert rows["'" + FORMULA] == {
        "id": str(formula.pk),
        "name": "'" + FORMULA,
        "kind": "service_account",
        "system": "aws",
        "external_id": formula.external_id,
        "environment": "prod",
        "status": "lapsed",
        "owner_team": "payments",
        "steward_team": "",
        "justification": JUSTIFICATION,
        "ticket_url": TICKET,
        "risk_tier": "high",
        "expires_at": iso(T0 + 180 * DAY),
        "expiry_waiver_id": "",
        "last_attested_at": "",
        "next_review_at": iso(T0 + 90 * DAY),
        "state": "active",
        "escalation_stage": "4",
        "created_at": "2026-11-01T12:00:00+00:00",
        "updated_at": iso(formula.updated_at),
        "approved_by": "lee",
        "approved_by_team": "payments",
        "approved_at": "2026-11-01T12:00:00+00:00",
        "approval_ticket_url": "",
        "revoker_teams": "",
        "iam_owner": "",
        "pam_owner": "",
        "runtime_owner": "",
        "secops_owner": "",
    }
    # The records as they are now: billing moved to data, and was attested after the period.
    billing = rows["billing-export"]
    assert (billing["owner_team"], billing["last_attested_at"]) == ("data", iso(when(2, 26)))
    assert (rows["legacy-etl"]["owner_team"], rows["legacy-etl"]["steward_team"]) == (
        "data",
        "platform",
    )


def test_period_files_hold_exactly_the_periods_records(estate, personas):
    t = tables(build(personas.sam)[1])

    assert Attestation.objects.count() == 3
    assert len(t["attestations.csv"]) == in_period(Attestation.objects).count() == 1
    assert t["attestations.csv"][0] == {
        "id": str(estate.attestation.pk),
        "path_id": str(estate.billing.pk),
        "path_name": "billing-export",
        "team": "payments",
        "attested_by": "pat",
        "decision": "keep",
        "still_needed": "true",
        "justification_accurate": "true",
        "least_privilege": "true",
        "no_human_use": "true",
        "note": "Still exports invoices nightly.",
        "created_at": "2026-11-23T12:00:00+00:00",
        "next_review_at": iso(NOW + DAY + 90 * DAY),
    }

    # Requested or decided in the period, or approved and live during it; not one that
    # was over before the period began.
    exceptions = {row["id"]: row for row in t["exceptions.csv"]}
    assert set(exceptions) == {str(estate.live_exc.pk), str(estate.period_exc.pk)}
    assert exceptions[str(estate.period_exc.pk)] == {
        "id": str(estate.period_exc.pk),
        "path_id": str(estate.formula.pk),
        "path_name": "'" + FORMULA,
        "rule": "nhi5_overprivileged",
        "reason": "Broad read scope is needed until the data lake migration ends.",
        "status": "approved",
        "requested_by": "sam",
        "requested_at": iso(NOW + 2 * DAY),
        "decided_by": "sid",
        "decided_at": iso(NOW + 3 * DAY),
        "decision_reason": "Reviewed with the data team.",
        "expires_at": iso(NOW + 60 * DAY),
    }
    assert exceptions[str(estate.live_exc.pk)]["decided_at"] == iso(T0 + 2 * DAY)

    lifecycle = ["access_path.escalated", "access_path.lapsed", "access_path.expired"]
    assert AuditEvent.objects.filter(action__in=lifecycle).count() == 5
    assert [(r["action"], r["path_name"], r["actor"]) for r in t["escalations.csv"]] == [
        ("access_path.expired", "tmp-migration", "sweep"),
        ("access_path.escalated", "'" + FORMULA, "sweep"),
        ("access_path.lapsed", "'" + FORMULA, "sweep"),
    ]
    assert (
        len(t["escalations.csv"])
        == in_period(AuditEvent.objects.filter(action__in=lifecycle)).count()
    )
    # A lapse records when the path lapsed (issue 16), which the sweep noticed later.
    assert t["escalations.csv"][2]["changes"] == (
        '{"escalation_stage":[2,4],"lapsed_at":[null,"2027-02-13T12:00:00+00:00"]}'
    )

    assert AuditEvent.objects.filter(action="access_path.revoked").count() == 2
    revoked = AuditEvent.objects.get(action="access_path.revoked", path=estate.doomed)
    assert t["revocations.csv"] == [
        {
            "seq": str(revoked.seq),
            "created_at": "2026-12-01T12:00:00+00:00",
            "action": "access_path.revoked",
            "actor_type": "user",
            "actor": "lee",
            "path_id": str(estate.doomed.pk),
            "path_name": "old-deploy-key",
            "object_type": "accesspath",
            "object_id": str(estate.doomed.pk),
            "reason": "Deploys use OIDC now.",
            "changes": json.dumps(revoked.changes, sort_keys=True, separators=(",", ":")),
            "hash": revoked.hash,
        }
    ]

    ownership = AuditEvent.objects.filter(action__regex=r"^(claim|transfer)\.")
    assert ownership.count() == 6
    assert len(t["ownership.csv"]) == in_period(ownership).count()
    assert [(r["action"], r["path_name"], r["actor"]) for r in t["ownership.csv"]] == [
        ("claim.requested", "legacy-etl", "dana"),
        ("claim.approved", "legacy-etl", "sam"),
        ("transfer.requested", "billing-export", "lee"),
        ("transfer.accepted", "billing-export", "dana"),
    ]
    seqs = [int(r["seq"]) for r in t["ownership.csv"]]
    assert seqs == sorted(seqs)


def test_every_text_cell_is_guarded_against_csv_injection(estate, personas):
    services.path_revoke(
        actor=personas.sam,
        path=estate.billing,
        reason="@SUM(1+1)*cmd|' /C calc'!A0",
        now=when(1, 5),
    )
    t = tables(build(personas.sam)[1])
    for rows in t.values():
        for row in rows:
            assert not any(cell[:1] in ("=", "+", "-", "@", "\t", "\r") for cell in row.values())
    reasons = [r["reason"] for r in t["revocations.csv"]]
    assert "'@SUM(1+1)*cmd|' /C calc'!A0" in reasons


def test_two_packs_of_the_same_data_are_byte_identical(estate, personas):
    """Each pack adds its own audit event, which the next pack's manifest (chain head)
    would name: two packs built in rolled-back transactions see the same data."""
    packs = []
    for _ in range(2):
        with transaction.atomic():
            packs.append(members(build(Actor.for_user(personas.users.sam))[1]))
            transaction.set_rollback(True)
    # The signed anchor names the head as it is after the pack's own (salted) event.
    assert packs[0].pop("anchor.json") != packs[1].pop("anchor.json")
    assert packs[0] == packs[1]

    # Built one after the other, only the chain head in the manifest differs.
    first, second = members(build(personas.sam)[1]), members(build(personas.sam)[1])
    assert {n: first[n] for n in CSV_MEMBERS} == {n: second[n] for n in CSV_MEMBERS}
    one, two = json.loads(first["manifest.json"]), json.loads(second["manifest.json"])
    assert two["audit_chain"]["head_seq"] == one["audit_chain"]["head_seq"] + 1
    one.pop("audit_chain"), two.pop("audit_chain")
    assert one == two


def test_a_broken_chain_is_reported_in_the_manifest(estate, personas):
    AuditChainHead.objects.update(last_hash="f" * 64)
    manifest, data = build(personas.system)
    verified = json.loads(members(data)["manifest.json"])["audit_chain"]["verified"]
    head = manifest.chain_head_seq
    assert verified == {
        "ok": False,
        "checked": head - 1,
        "broken_seq": head,
        "problem": f"event #{head} does not match the chain head",
    }
    assert not manifest.chain_ok


@pytest.mark.parametrize("who", ["pat", "lee", "dana", "otto", "payments_ci"])
def test_only_security_and_the_system_may_build_a_pack(estate, personas, who):
    out = io.BytesIO()
    with refused(NotAllowed, errors.NOT_A_SECURITY_REVIEWER):
        build_evidence_pack(
            actor=getattr(personas, who), start=START, end=END, now=PACK_NOW, out=out
        )
    assert out.getvalue() == b""


def test_the_system_may_build_a_pack(estate):
    manifest, _ = build(Actor.system("evidence_pack"))
    assert manifest.generated_by == "evidence_pack"
    assert last_event().actor_type == "system"


@pytest.mark.parametrize(
    ("start", "end", "field", "message"),
    [
        (END, START, "end", PERIOD_INVALID),
        (START, START, "end", PERIOD_INVALID),
        (START.replace(tzinfo=None), END, "start", "Give a timezone-aware datetime."),
    ],
)
def test_a_bad_period_is_refused(personas, start, end, field, message):
    out = io.BytesIO()
    with refused(Invalid, message) as exc:
        build_evidence_pack(actor=personas.sam, start=start, end=end, now=PACK_NOW, out=out)
    assert exc.value.field == field
    assert out.getvalue() == b""


def test_query_count_does_not_grow_with_the_estate(personas, make_path, sid):
    def add(count):
        for i in range(count):
            p = make_path(name=f"bulk-{i}", steward_team=personas.teams.platform, now=T0)
            keep(personas.pat, p, NOW, note="Bulk check.")
            services.exception_request(
                actor=personas.sam, path=p, rule=PolicyException.Rule.NHI9_REUSE,
                reason="Shared with the reporting job until it gets its own.",
                expires_at=NOW + 30 * DAY, now=NOW,
            )  # fmt: skip
            services.path_revoke(actor=personas.lee, path=p, reason="Done.", now=NOW + DAY)

    def queries() -> int:
        actor = Actor.for_user(personas.users.sam)
        with CaptureQueriesContext(transaction.get_connection()) as ctx:
            build(actor)
        return len(ctx.captured_queries)

    add(5)
    few = queries()
    add(45)
    assert AccessPath.objects.count() == 50
    many = queries()
    assert many == few
    # (+3 for the control-point owners: system policies, revoker teams, their teams)
    assert few <= 24


@pytest.mark.django_db(transaction=True)
def test_a_pack_outside_any_transaction(personas, make_path):
    """As the command and the page run it: the pack reads in its own transaction
    (REPEATABLE READ, READ ONLY on PostgreSQL), then audits itself in another."""
    make_path(name="billing-export", now=NOW)
    head = AuditChainHead.objects.get()
    manifest, data = build(Actor.system("evidence_pack"))
    assert manifest.chain_head_seq == head.last_seq
    assert len(table(members(data)["paths.csv"], "paths.csv")) == 1
    assert last_event().seq == head.last_seq + 1
    assert verify_chain().intact


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_change_committed_during_the_build_is_not_in_the_pack(personas, make_path, monkeypatch):
    """One snapshot: a revocation committed by another connection while the pack is
    being read shows in none of its files, and the manifest's head is the one before it."""
    billing = make_path(name="billing-export", now=NOW)
    head = AuditChainHead.objects.get()
    real_verify = evidence.verify_chain

    def verify_then_revoke():
        report = real_verify()

        def revoke():
            try:
                services.path_revoke(
                    actor=personas.lee, path=billing, reason="Leaked.", now=NOW + DAY
                )
            finally:
                connection.close()

        thread = threading.Thread(target=revoke, daemon=True)
        thread.start()
        thread.join(30)
        assert not thread.is_alive()
        return report

    monkeypatch.setattr(evidence, "verify_chain", verify_then_revoke)
    manifest, data = build(personas.sam)
    t = tables(data)
    assert AccessPath.objects.get(pk=billing.pk).state == "revoked"
    assert [(row["state"], row["status"]) for row in t["paths.csv"]] == [("active", "overdue")]
    assert t["revocations.csv"] == []
    assert manifest.chain_head_seq == head.last_seq
    revoked = AuditEvent.objects.get(action="access_path.revoked")
    assert revoked.seq == head.last_seq + 1
    assert last_event().seq == head.last_seq + 2
    assert last_event().changes["chain_head_seq"] == [None, head.last_seq]
    assert verify_chain().intact


# --- the per-control summary ---------------------------------------------------------


def test_controls_and_rules_summarise_the_live_paths_now(estate, personas):
    manifest, data = build(personas.sam)
    t = tables(data)
    controls = {row["control"]: row for row in t["controls.csv"]}
    assert list(controls) == [control.id for control in CONTROLS]
    # Five live paths at the pack's `now` (late-path too: the summary is about now), one
    # of them unowned (orphan-bot).
    assert controls["GV.OC-02"] == {
        "control": "GV.OC-02",
        "framework": "NIST CSF 2.0",
        "title": "Internal and external stakeholders' needs and expectations are understood",
        "live_paths": "5",
        "passing": "4",
        "percent": "80.0",
        "statement": "GV.OC-02: 80.0% of live paths have a named owning team",
        "rules": "nhi1_offboarding missing_provenance",
    }
    summary = framework_summary(now=PACK_NOW, policy=current_policy())
    for figure in summary.controls:
        row = controls[figure.control.id]
        assert (row["live_paths"], row["passing"], row["percent"], row["statement"]) == (
            str(figure.live), str(figure.passing), str(figure.percent), figure.statement
        )  # fmt: skip
    rules = {row["rule"]: row for row in t["rules.csv"]}
    assert list(rules) == [rule.code for rule in RULES]
    assert rules["missing_authority"] == {
        "rule": "missing_authority",
        "title": "Missing approver or control-point owner",
        "owasp": "",
        "nist_csf": "GV.RR-02",
        "ai_rmf": "GOVERN 2.1",
        "framework_ids": "GV.RR-02 GOVERN 2.1",
        "violating": "5",
        "fix": "Record who approved it and the control-point owners.",
    }
    assert rules["missing_ticket"]["violating"] == "1"
    assert rules["nhi5_overprivileged"]["framework_ids"] == "NHI5 PR.AA-05 MEASURE 2.7"
    assert {code: int(row["violating"]) for code, row in rules.items()} == {
        f.rule.code: f.violating for f in summary.rules
    }
    doc = json.loads(members(data)["manifest.json"])
    assert doc["controls"] == {
        "measured_at": "2027-03-01T12:00:00+00:00",
        "live_paths": 5,
        "statements": [row["statement"] for row in t["controls.csv"]],
    }
    assert "  GV.OC-02: 80.0% of live paths have a named owning team" in manifest.summary_lines()


def _verifier():
    path = Path(settings.BASE_DIR) / "scripts" / "verify_evidence_pack.py"
    spec = importlib.util.spec_from_file_location("verify_evidence_pack", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_verifier_checks_the_control_figures(estate, personas, capsys):
    verifier = _verifier()
    files = members(build(personas.sam)[1])
    doc = json.loads(files["manifest.json"])
    verifier.check_controls(doc, files["controls.csv"])
    assert (
        f"ok: {len(CONTROLS)} control figures add up over 5 live paths" in capsys.readouterr().out
    )
    # A percentage that does not follow from its counts, a statement that does not say
    # it, or a manifest whose statements differ: each is reported.
    wrong_percent = files["controls.csv"].replace(b",4,80.0,", b",4,97.4,")
    wrong_statement = files["controls.csv"].replace(b"GV.OC-02: 80.0%", b"GV.OC-02: 97.4%")
    for csv_bytes, manifest, message in [
        (wrong_percent, doc, "controls.csv: GV.OC-02 says 97.4%, 4/5 is 80.0%"),
        (wrong_statement, doc, "controls.csv: the statement of GV.OC-02 does not say 80.0%"),
        (
            files["controls.csv"],
            {**doc, "controls": {**doc["controls"], "statements": []}},
            "manifest.json's control statements are not controls.csv's",
        ),
    ]:
        with pytest.raises(SystemExit):
            verifier.check_controls(manifest, csv_bytes)
        assert f"FAILED: {message}" in capsys.readouterr().out
