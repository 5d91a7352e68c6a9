"""The auditor evidence pack: one ZIP of CSV files and a JSON manifest for a period.

What is in it, for the period [start, end):

- paths.csv: every path registered before `end`, with its status at `now`;
- attestations.csv: attestations made in the period;
- exceptions.csv: policy exceptions requested or decided in the period, or approved and
  live during it;
- escalations.csv, revocations.csv, ownership.csv: the audit events of the period about
  escalation (escalated, lapsed, expired), revocation, and claims and transfers;
- controls.csv: per framework control (OWASP NHI, NIST CSF 2.0, NIST AI RMF;
  rules/frameworks.py) the live paths at `now`, how many pass, the percentage and its
  statement ("GV.OC-02: 97.4% of live paths have a named owning team");
- rules.csv: per posture rule the live paths breaking it at `now`, with its framework ids
  and fix (one grouped read of the stored facts: selectors/frameworks.py);
- manifest.json: who generated the pack and when, the period, the audit chain head the
  pack describes and the result of walking the chain, each CSV's row count and
  SHA-256, and the controls' statements.

Rows show the records as they are when the pack is generated (the audit events carry
each change's moment). Datetimes are ISO 8601 in UTC; every cell passes the CSV-injection
guard the inventory export uses (registry.selectors.exports.csv_safe).

Consistency: the pack is read in one transaction (REPEATABLE READ, READ ONLY on
PostgreSQL; SQLite's transactions already are), so every CSV row, the chain head and the
chain check describe the same moment. Generating the pack is then audited
("evidence_pack.generated") in its own transaction, *after* the manifest was built: the
manifest reports the chain head as it was before the pack's own event, and that event
names the head and the manifest's SHA-256, tying the pack to the log.

Determinism: members in a fixed order, each stamped with `now`, fixed file attributes;
two packs built from the same data with the same `now` are byte-identical.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import hashlib
import importlib.metadata
import json
import tomllib
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, BinaryIO

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import Q, QuerySet

from registry.audit import audit_record, verify_chain
from registry.audit.anchors import anchor_now
from registry.audit.chain import canonical
from registry.audit.signing import private_key, public_key_pem
from registry.audit.snapshot import chain_snapshot
from registry.models import AccessPath, Attestation, AuditChainHead, AuditEvent, PolicyException
from registry.rules import permissions
from registry.rules.actors import Actor
from registry.rules.control_points import CONTROL_POINTS, TEAM_RELATIONS, with_authority
from registry.rules.errors import Invalid, NotAllowed, Unavailable
from registry.rules.frameworks import ControlFigure, FrameworkSummary, RuleFigure
from registry.rules.policies import current_policy
from registry.selectors import path_queryset
from registry.selectors.exports import csv_safe
from registry.selectors.frameworks import framework_summary

if TYPE_CHECKING:
    from registry.selectors.paths import PathWithStatus

FORMAT = "nhi-evidence-pack/1"
ACTION = "evidence_pack.generated"
CHUNK = 2000
PERIOD_INVALID = "The period must end after it starts."
NAIVE_DATETIME = "Give a timezone-aware datetime."

PATH_COLUMNS = (
    "id", "name", "kind", "system", "external_id", "environment", "status", "owner_team",
    "steward_team", "justification", "ticket_url", "risk_tier", "expires_at",
    "expiry_waiver_id", "last_attested_at", "next_review_at", "state", "escalation_stage",
    "created_at", "updated_at", "approved_by", "approved_by_team", "approved_at",
    "approval_ticket_url", "revoker_teams", "iam_owner", "pam_owner", "runtime_owner",
    "secops_owner",
)  # fmt: skip
ATTESTATION_COLUMNS = (
    "id", "path_id", "path_name", "team", "attested_by", "decision", "still_needed",
    "justification_accurate", "least_privilege", "no_human_use", "note", "created_at",
    "next_review_at",
)  # fmt: skip
EXCEPTION_COLUMNS = (
    "id", "path_id", "path_name", "rule", "reason", "status", "requested_by", "requested_at",
    "decided_by", "decided_at", "decision_reason", "expires_at",
)  # fmt: skip
EVENT_COLUMNS = (
    "seq", "created_at", "action", "actor_type", "actor", "path_id", "path_name",
    "object_type", "object_id", "reason", "changes", "hash",
)  # fmt: skip

CONTROL_COLUMNS = (
    "control", "framework", "title", "live_paths", "passing", "percent", "statement", "rules",
)  # fmt: skip
RULE_COLUMNS = (
    "rule", "title", "owasp", "nist_csf", "ai_rmf", "framework_ids", "violating", "fix",
)  # fmt: skip

ESCALATION_ACTIONS = ("access_path.escalated", "access_path.lapsed", "access_path.expired")
REVOCATION_ACTIONS = ("access_path.revoked",)
OWNERSHIP_PREFIXES = ("claim.", "transfer.")

MANIFEST = "manifest.json"
ANCHOR = "anchor.json"
PUBLIC_KEY = "audit-public-key.pem"


# --- cells ---------------------------------------------------------------------------


def iso(value: dt.datetime | None) -> str:
    return "" if value is None else value.astimezone(dt.UTC).isoformat()


def _cell(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return iso(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return csv_safe(value)


def _username(user) -> str:
    return "" if user is None else user.get_username()


def _slug(team) -> str:
    return "" if team is None else team.slug


# --- rows ----------------------------------------------------------------------------


def _owner(p: AccessPath, point: str) -> str:
    """The effective owner, marked when it is the system's default."""
    owner = p.authority.owners[point]
    return _slug(owner.team) + (" (system default)" if owner.from_system else "")


def _path_row(p: PathWithStatus) -> Sequence[Any]:
    authority = p.authority
    return (
        p.pk, p.name, p.kind, p.system, p.external_id, p.environment, p.status,
        _slug(p.owner_team), _slug(p.steward_team), p.justification, p.ticket_url, p.risk_tier,
        p.expires_at, p.expiry_waiver_id or "", p.last_attested_at, p.next_review_at, p.state,
        p.escalation_stage, p.created_at, p.updated_at, authority.approved_by,
        _slug(authority.approved_by_team), authority.approved_at,
        authority.approval_ticket_url, " ".join(authority.revoker_slugs()),
        *(_owner(p, point) for point in CONTROL_POINTS),
    )  # fmt: skip


def _attestation_row(a: Attestation) -> Sequence[Any]:
    return (
        a.pk, a.path_id, a.path.name, _slug(a.team), _username(a.attested_by), a.decision,
        a.still_needed, a.justification_accurate, a.least_privilege, a.no_human_use, a.note,
        a.created_at, a.next_review_at,
    )  # fmt: skip


def _exception_row(e: PolicyException) -> Sequence[Any]:
    return (
        e.pk, e.path_id, e.path.name, e.rule, e.reason, e.status, _username(e.requested_by),
        e.created_at, _username(e.decided_by), e.decided_at, e.decision_reason, e.expires_at,
    )  # fmt: skip


def _event_row(e: AuditEvent) -> Sequence[Any]:
    changes = json.dumps(e.changes, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return (
        e.seq, e.created_at, e.action, e.actor_type, e.actor_label, e.path_id or "",
        e.path.name if e.path else "", e.object_type, e.object_id, e.reason, changes, e.hash,
    )  # fmt: skip


def _control_row(f: ControlFigure) -> Sequence[Any]:
    return (
        f.control.id, f.control.framework, f.control.title, f.live, f.passing,
        "" if f.percent is None else str(f.percent), f.statement, " ".join(f.control.rule_codes),
    )  # fmt: skip


def _rule_row(f: RuleFigure) -> Sequence[Any]:
    rule = f.rule
    return (
        rule.code, rule.title, rule.owasp, " ".join(rule.nist_csf), " ".join(rule.ai_rmf),
        " ".join(rule.framework_ids), f.violating, rule.fix,
    )  # fmt: skip


# --- queries -------------------------------------------------------------------------


class _PathsWithAuthority:
    """The paths' query, streamed with each path's authority (registry.rules.control_points):
    the policies once, revoker teams once per chunk."""

    def __init__(self, qs: QuerySet[AccessPath]) -> None:
        self.qs = qs

    def iterator(self, chunk_size: int) -> Iterator[AccessPath]:
        return with_authority(self.qs.iterator(chunk_size=chunk_size), chunk_size)


class _Listed:
    """Rows already computed (the controls' figures), streamed like a query's."""

    def __init__(self, rows: Sequence[Any]) -> None:
        self.rows = rows

    def iterator(self, chunk_size: int) -> Iterator[Any]:
        return iter(self.rows)


def _paths(actor: Actor, end: dt.datetime, now: dt.datetime) -> _PathsWithAuthority:
    # path_queryset: the actor's scope (everything, for those allowed here), its teams
    # joined, status annotated in SQL; one query per chunk however many paths.
    return _PathsWithAuthority(
        path_queryset(actor=actor, now=now)
        .select_related(*TEAM_RELATIONS)
        .prefetch_related("revoker_teams")
        .filter(created_at__lt=end)
        .order_by("created_at", "id")
    )


def _attestations(start: dt.datetime, end: dt.datetime) -> QuerySet[Attestation]:
    return (
        Attestation.objects.filter(created_at__gte=start, created_at__lt=end)
        .select_related("path", "team", "attested_by")
        .order_by("created_at", "id")
    )


def _exceptions(start: dt.datetime, end: dt.datetime) -> QuerySet[PolicyException]:
    requested = Q(created_at__gte=start, created_at__lt=end)
    decided = Q(decided_at__gte=start, decided_at__lt=end)
    live = Q(status=PolicyException.Status.APPROVED, decided_at__lt=end, expires_at__gt=start)
    return (
        PolicyException.objects.filter(requested | decided | live)
        .select_related("path", "requested_by", "decided_by")
        .order_by("created_at", "id")
    )


def _events(start: dt.datetime, end: dt.datetime, actions: Q) -> QuerySet[AuditEvent]:
    return (
        AuditEvent.objects.filter(actions, created_at__gte=start, created_at__lt=end)
        .select_related("path")
        .order_by("seq")
    )


def _starts_with_any(prefixes: Iterable[str]) -> Q:
    q = Q()
    for prefix in prefixes:
        q |= Q(action__startswith=prefix)
    return q


# --- the manifest --------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    name: str
    rows: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    generated_at: dt.datetime
    generated_by: str
    start: dt.datetime
    end: dt.datetime
    chain_head_seq: int
    chain_head_hash: str
    chain_ok: bool
    chain_checked: int
    chain_broken_seq: int | None
    chain_problem: str
    members: tuple[Member, ...]
    registry_version: str | None
    # The controls' statements at `generated_at` (controls.csv holds their figures).
    live_paths: int = 0
    control_statements: tuple[str, ...] = ()
    # The SHA-256 of manifest.json as stored in the ZIP (it names every CSV's hash);
    # the pack's audit event records it.
    sha256: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "registry_version": self.registry_version,
            "generated_at": iso(self.generated_at),
            "generated_by": self.generated_by,
            "period": {"start": iso(self.start), "end": iso(self.end), "end_is_exclusive": True},
            "audit_chain": {
                "head_seq": self.chain_head_seq,
                "head_hash": self.chain_head_hash,
                "verified": {
                    "ok": self.chain_ok,
                    "checked": self.chain_checked,
                    "broken_seq": self.chain_broken_seq,
                    "problem": self.chain_problem,
                },
            },
            "files": {m.name: {"rows": m.rows, "sha256": m.sha256} for m in self.members},
            "controls": {
                "measured_at": iso(self.generated_at),
                "live_paths": self.live_paths,
                "statements": list(self.control_statements),
            },
        }

    def to_json(self) -> bytes:
        return (json.dumps(self.as_dict(), indent=2, sort_keys=True) + "\n").encode()

    def member(self, name: str) -> Member:
        return next(m for m in self.members if m.name == name)

    def summary_lines(self) -> list[str]:
        chain = "intact" if self.chain_ok else f"BROKEN at #{self.chain_broken_seq}"
        lines = [
            f"Evidence pack {iso(self.start)} to {iso(self.end)} (end excluded), "
            f"generated {iso(self.generated_at)} by {self.generated_by}",
            f"Audit chain head #{self.chain_head_seq} {self.chain_head_hash or '-'}: {chain} "
            f"({self.chain_checked} events verified)"
            + (f": {self.chain_problem}" if self.chain_problem else ""),
        ]
        lines += [f"  {m.name}: {m.rows} rows, sha256 {m.sha256}" for m in self.members]
        lines.append(f"  {MANIFEST}: sha256 {self.sha256}")
        lines.append(f"Controls over {self.live_paths} live paths:")
        lines += [f"  {statement}" for statement in self.control_statements]
        return lines


@functools.cache
def registry_version() -> str | None:
    """The project's version: installed metadata, else pyproject.toml, else None."""
    try:
        return importlib.metadata.version("nhi-registry")
    except importlib.metadata.PackageNotFoundError:
        pass
    try:
        with open(settings.BASE_DIR / "pyproject.toml", "rb") as f:
            return tomllib.load(f)["project"]["version"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return None


# --- writing -------------------------------------------------------------------------


class _CsvMember:
    """One CSV member of the ZIP, written as it streams, hashed and counted on the way."""

    FLUSH = 64 * 1024

    def __init__(self, zf: zipfile.ZipFile, name: str, when: dt.datetime) -> None:
        self.name = name
        self._raw = zf.open(_zip_info(name, when), "w")
        self._sha = hashlib.sha256()
        self._buffer: list[bytes] = []
        self._buffered = 0
        self._writer = csv.writer(self)
        self.rows = 0

    def write(self, text: str) -> None:  # the csv module's file protocol
        data = text.encode("utf-8")
        self._sha.update(data)
        self._buffer.append(data)
        self._buffered += len(data)
        if self._buffered >= self.FLUSH:
            self._flush()

    def _flush(self) -> None:
        self._raw.write(b"".join(self._buffer))
        self._buffer, self._buffered = [], 0

    def header(self, columns: Sequence[str]) -> None:
        self._writer.writerow(columns)

    def row(self, values: Sequence[Any]) -> None:
        self._writer.writerow([_cell(v) for v in values])
        self.rows += 1

    def close(self) -> Member:
        self._flush()
        self._raw.close()
        return Member(self.name, self.rows, self._sha.hexdigest())


def _zip_info(name: str, when: dt.datetime) -> zipfile.ZipInfo:
    stamp = when.astimezone(dt.UTC)
    info = zipfile.ZipInfo(name, date_time=stamp.timetuple()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3  # Unix, whatever the platform: fixed attributes
    info.external_attr = 0o100644 << 16
    return info


def _write_csv(
    zf: zipfile.ZipFile,
    name: str,
    when: dt.datetime,
    columns: Sequence[str],
    rows: Iterator[Any],
    to_row: Callable[[Any], Sequence[Any]],
) -> Member:
    member = _CsvMember(zf, name, when)
    member.header(columns)
    for obj in rows:
        member.row(to_row(obj))
    return member.close()


def _members(
    actor: Actor,
    start: dt.datetime,
    end: dt.datetime,
    now: dt.datetime,
    summary: FrameworkSummary,
) -> list:
    """(member name, columns, queryset, row function), in the pack's fixed order."""
    escalations = Q(action__in=ESCALATION_ACTIONS)
    revocations = Q(action__in=REVOCATION_ACTIONS)
    ownership = _starts_with_any(OWNERSHIP_PREFIXES)
    return [
        ("paths.csv", PATH_COLUMNS, _paths(actor, end, now), _path_row),
        ("attestations.csv", ATTESTATION_COLUMNS, _attestations(start, end), _attestation_row),
        ("exceptions.csv", EXCEPTION_COLUMNS, _exceptions(start, end), _exception_row),
        ("escalations.csv", EVENT_COLUMNS, _events(start, end, escalations), _event_row),
        ("revocations.csv", EVENT_COLUMNS, _events(start, end, revocations), _event_row),
        ("ownership.csv", EVENT_COLUMNS, _events(start, end, ownership), _event_row),
        ("controls.csv", CONTROL_COLUMNS, _Listed(summary.controls), _control_row),
        ("rules.csv", RULE_COLUMNS, _Listed(summary.rules), _rule_row),
    ]


def _check(actor: Actor, start: dt.datetime, end: dt.datetime, now: dt.datetime) -> None:
    if refused := permissions.refuse_evidence_pack(actor):
        raise NotAllowed(refused)
    for field, value in (("start", start), ("end", end), ("now", now)):
        if value.tzinfo is None:
            raise Invalid.single(field, NAIVE_DATETIME)
    if end <= start:
        raise Invalid.single("end", PERIOD_INVALID)
    try:
        private_key()  # before anything is read or written: a pack is always anchored
    except ImproperlyConfigured as exc:
        raise Unavailable(str(exc)) from exc


def build_evidence_pack(
    *, actor: Actor, start: dt.datetime, end: dt.datetime, now: dt.datetime, out: BinaryIO
) -> Manifest:
    """Write the evidence pack for [start, end) to `out` and audit its generation.

    Security reviewers and the system only; anyone else is refused before anything is
    read or written."""
    _check(actor, start, end, now)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        with chain_snapshot():  # one snapshot for the whole pack
            head = AuditChainHead.objects.filter(pk=1).first()
            report = verify_chain()
            summary = framework_summary(now=now, policy=current_policy())
            files = _members(actor, start, end, now, summary)
            members = tuple(
                _write_csv(zf, name, now, columns, qs.iterator(chunk_size=CHUNK), to_row)
                for name, columns, qs, to_row in files
            )
            manifest = Manifest(
                generated_at=now,
                generated_by=actor.label,
                start=start,
                end=end,
                chain_head_seq=head.last_seq if head else 0,
                chain_head_hash=head.last_hash if head else "",
                chain_ok=report.intact,
                chain_checked=report.checked,
                chain_broken_seq=report.broken_seq,
                chain_problem=report.problem,
                members=members,
                registry_version=registry_version(),
                live_paths=summary.live,
                control_statements=tuple(f.statement for f in summary.controls),
            )
            body = manifest.to_json()
            zf.writestr(_zip_info(MANIFEST, now), body)
        manifest = replace(manifest, sha256=hashlib.sha256(body).hexdigest())
        with transaction.atomic():
            audit_record(
                actor=actor,
                action=ACTION,
                obj=AuditChainHead(pk=1),
                now=now,
                changes={
                    "period_start": [None, iso(start)],
                    "period_end": [None, iso(end)],
                    "chain_head_seq": [None, manifest.chain_head_seq],
                    "chain_head_hash": [None, manifest.chain_head_hash],
                    "chain_ok": [None, manifest.chain_ok],
                    "manifest_sha256": [None, manifest.sha256],
                },
                reason=f"Evidence pack for {iso(start)} to {iso(end)} (end excluded).",
            )
        _add_anchor(zf, manifest, now)
    return manifest


def _add_anchor(zf: zipfile.ZipFile, manifest: Manifest, now: dt.datetime) -> None:
    """Sign the chain head (which now includes this pack's own event) naming the manifest,
    write it to the anchor sink, and add it and the public key to the pack: an auditor
    checks the pack offline (scripts/verify_evidence_pack.py) and against the SIEM."""
    record = anchor_now(now=now, evidence_manifest_sha256=manifest.sha256)
    zf.writestr(_zip_info(ANCHOR, now), canonical(record).encode())
    zf.writestr(_zip_info(PUBLIC_KEY, now), public_key_pem(private_key().public_key()))


# --- periods as dates (the command and the page) -------------------------------------


def period_from_dates(first: dt.date, until: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[first 00:00 UTC, until 00:00 UTC): `until` is the first day not included."""
    start = dt.datetime.combine(first, dt.time(), tzinfo=dt.UTC)
    end = dt.datetime.combine(until, dt.time(), tzinfo=dt.UTC)
    return start, end


def pack_filename(first: dt.date, until: dt.date) -> str:
    return f"nhi-evidence-{first.isoformat()}-{until.isoformat()}.zip"
