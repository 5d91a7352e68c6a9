"""Helpers shared by the evidence pack tests (tests/selectors/test_evidence_pack.py,
tests/ops/test_evidence_pack_command.py, tests/web/test_evidence_page.py): the period,
an estate with records inside it and outside it, and reading a pack back."""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from types import SimpleNamespace

from registry import services
from registry.models import AccessPath, PolicyException
from registry.selectors.evidence import (
    ATTESTATION_COLUMNS,
    CONTROL_COLUMNS,
    EVENT_COLUMNS,
    EXCEPTION_COLUMNS,
    PATH_COLUMNS,
    RULE_COLUMNS,
    build_evidence_pack,
)
from registry.services.sweep import sweep
from tests.conftest import NOW

UTC = dt.UTC
DAY = dt.timedelta(days=1)
T0 = NOW - 21 * DAY  # 2026-11-01 12:00: the estate is registered, before the period
START = dt.datetime(2026, 11, 15, tzinfo=UTC)
END = dt.datetime(2027, 2, 20, tzinfo=UTC)  # excluded
PACK_NOW = dt.datetime(2027, 3, 1, 12, tzinfo=UTC)
FORMULA = '=HYPERLINK("https://evil.example.com/x","click me")'
CSV_MEMBERS = [
    "paths.csv",
    "attestations.csv",
    "exceptions.csv",
    "escalations.csv",
    "revocations.csv",
    "ownership.csv",
    "controls.csv",
    "rules.csv",
]
MEMBERS = [*CSV_MEMBERS, "manifest.json", "anchor.json", "audit-public-key.pem"]
HEADERS = {
    "paths.csv": list(PATH_COLUMNS),
    "attestations.csv": list(ATTESTATION_COLUMNS),
    "exceptions.csv": list(EXCEPTION_COLUMNS),
    "escalations.csv": list(EVENT_COLUMNS),
    "revocations.csv": list(EVENT_COLUMNS),
    "ownership.csv": list(EVENT_COLUMNS),
    "controls.csv": list(CONTROL_COLUMNS),
    "rules.csv": list(RULE_COLUMNS),
}


def iso(value: dt.datetime) -> str:
    return value.astimezone(UTC).isoformat()


def when(month: int, day: int, year: int = 2027) -> dt.datetime:
    return dt.datetime(year, month, day, 12, tzinfo=UTC)


def build_estate(personas, make_path, sid):
    """Paths registered at T0 (before the period) and a history around the period
    [2026-11-15, 2027-02-20): each kind of record both inside it and outside it."""
    p, teams = personas, personas.teams
    billing = make_path(name="billing-export", now=T0)
    doomed = make_path(name="old-deploy-key", kind=AccessPath.Kind.SSH_KEY, now=T0)
    formula = make_path(name=FORMULA, now=T0)
    shortlived = make_path(name="tmp-migration", risk_tier="low", expires_at=when(1, 10), now=T0)
    retired = make_path(name="retired-bot", now=T0)
    unowned = {"owner_team": None, "steward_team": teams.platform, "justification": ""}
    legacy = make_path(name="legacy-etl", ticket_url="", now=T0, **unowned)
    orphan = make_path(name="orphan-bot", ticket_url="", now=T0, **unowned)

    # Before the period: an attestation, a claim rejected, a revocation, two exceptions
    # (one still live during the period, one over before it starts).
    keep(p.pat, doomed, T0 + DAY, note="Quarterly check before the period.")
    services.claim_reject(
        actor=p.sam,
        claim=services.path_claim(
            actor=p.dana, path=orphan, team=teams.data, reason=CLAIM_REASON, now=T0 + DAY
        ),
        reason="Platform runs this bot; it will claim it.",
        now=T0 + 2 * DAY,
    )
    services.path_revoke(actor=p.lee, path=retired, reason="Bot retired.", now=T0 + 2 * DAY)
    live_exc = services.exception_request(
        actor=p.pat,
        path=billing,
        rule=PolicyException.Rule.NHI7_LONG_LIVED,
        reason="Rotation needs the vendor's maintenance window in December.",
        expires_at=T0 + 60 * DAY,
        now=T0 + DAY,
    )
    services.exception_approve(actor=p.sam, exception=live_exc, now=T0 + 2 * DAY)
    over_exc = services.exception_request(
        actor=p.pat,
        path=doomed,
        rule=PolicyException.Rule.MISSING_TICKET,
        reason="The ticket system migration loses links for a few days.",
        expires_at=T0 + 5 * DAY,
        now=T0,
    )
    services.exception_approve(actor=p.sam, exception=over_exc, now=T0 + DAY)

    # In the period.
    claim = services.path_claim(
        actor=p.dana, path=legacy, team=teams.data, reason=CLAIM_REASON, now=NOW
    )
    services.claim_approve(actor=p.sam, claim=claim, now=NOW + dt.timedelta(hours=1))
    attestation = keep(p.pat, billing, NOW + DAY, note="Still exports invoices nightly.")
    transfer = services.path_transfer(
        actor=p.lee,
        path=billing,
        to_team=teams.data,
        reason="Billing exports move to the data team.",
        now=NOW + 2 * DAY,
    )
    services.transfer_accept(actor=p.dana, transfer=transfer, now=NOW + 3 * DAY)
    period_exc = services.exception_request(
        actor=p.sam,
        path=formula,
        rule=PolicyException.Rule.NHI5_OVERPRIVILEGED,
        reason="Broad read scope is needed until the data lake migration ends.",
        expires_at=NOW + 60 * DAY,
        now=NOW + 2 * DAY,
    )
    services.exception_approve(
        actor=sid, exception=period_exc, reason="Reviewed with the data team.", now=NOW + 3 * DAY
    )
    services.path_revoke(
        actor=p.lee, path=doomed, reason="Deploys use OIDC now.", now=NOW + 9 * DAY
    )
    sweep(now=when(2, 2))  # tmp-migration expires; formula's review is 3 days overdue
    sweep(now=when(2, 14))  # formula lapses

    # After the period: escalations, an attestation, a new path.
    sweep(now=when(2, 25))
    keep(p.dana, billing, when(2, 26), note="Checked after the handover.")
    late = make_path(name="late-path", now=when(2, 25))

    return SimpleNamespace(
        billing=billing,
        doomed=doomed,
        formula=formula,
        shortlived=shortlived,
        retired=retired,
        legacy=legacy,
        orphan=orphan,
        late=late,
        attestation=attestation,
        live_exc=live_exc,
        over_exc=over_exc,
        period_exc=period_exc,
    )


CLAIM_REASON = "The data team runs these loads every night and will own them."


def keep(actor, path, at, note=""):
    return services.path_attest(
        actor=actor, path=path, decision="keep", still_needed=True, justification_accurate=True,
        least_privilege=True, no_human_use=True, note=note, now=at,
    )  # fmt: skip


# --- helpers -------------------------------------------------------------------------


def build(actor, *, start=START, end=END, now=PACK_NOW):
    out = io.BytesIO()
    manifest = build_evidence_pack(actor=actor, start=start, end=end, now=now, out=out)
    return manifest, out.getvalue()


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.testzip() is None
        return {name: zf.read(name) for name in zf.namelist()}


def table(content: bytes, name: str) -> list[dict[str, str]]:
    header, *rows = list(csv.reader(io.StringIO(content.decode("utf-8"), newline="")))
    assert header == HEADERS[name]
    return [dict(zip(header, row, strict=True)) for row in rows]


def tables(data: bytes) -> dict[str, list[dict[str, str]]]:
    files = members(data)
    return {name: table(files[name], name) for name in CSV_MEMBERS}


def in_period(qs, field="created_at"):
    return qs.filter(**{f"{field}__gte": START, f"{field}__lt": END})
