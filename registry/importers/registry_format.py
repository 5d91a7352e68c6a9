"""The registry's own format, as CSV or JSON: one path per row with its field names.

Columns/keys: every editable field (name, kind, system, external_id, environment,
steward_team, created_via, created_by_ref, consumers, ticket_url, artifact_ref,
justification, privilege_scope, risk_tier, data_classification, credential_lifetime,
rotation_days, last_rotated_at, last_used_at, requires_human_signoff, revocation_plan,
rollback_plan, expires_at, review_interval_days, interactive_login, mfa_active), plus
`owner_team` and `steward_team` (team slugs), `tags` (space or comma separated in CSV, a
list in JSON) and the history a previous spreadsheet or CMDB carries: `last_attested_at`.
Authority (registry.rules.control_points): `approved_by`, `approved_by_team` (a slug),
`approved_at`, `approval_ticket_url`, `iam_team`, `pam_team`, `secops_team` (slugs) and
`revoker_teams` (slugs, as tags are written). An export's `*_owner` columns are the
effective control-point owners the registry resolved, and its `violations` and
`framework_ids` the posture rules the path broke: read back, they are ignored.
Provenance: `change_url`, `merged_by`, `merged_by_team` (a slug), `proposed_by`;
issuer: `issuer_kind`, `max_lease_seconds` (a whole number); `mfa_active` (true, false or
empty: not reported). A pipeline-made row without its provenance is imported, and flagged
by the posture rule MISSING_PROVENANCE.
`identifiers`: the credential's other names, "kind:value;kind:value" in CSV, a list of
{"kind", "value"} (as the API shows them) or that string in JSON.

What the registry itself writes on export and derives on its own (id, status, state,
version, dates it keeps) is accepted and ignored, so an export can be edited and
imported back. Any other column is refused by name. Dates are ISO 8601; a date without
a time is midnight UTC, a time without an offset is UTC. Empty cells are "not stated".
JSON: a list of objects, or an object with the list under "results" (the API's page).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator
from typing import Any, BinaryIO

from registry.importers.base import ImportRow
from registry.rules.errors import Invalid
from registry.rules.path_fields import EDITABLE_FIELDS
from registry.services import identifiers as identifier_rules

HISTORY_FIELDS = frozenset({"last_attested_at"})
ACCEPTED = EDITABLE_FIELDS | {"owner_team", "tags", "identifiers", "revoker_teams"} | HISTORY_FIELDS
# Written by export_paths / the API and ignored on the way back in.
IGNORED = frozenset(
    {
        "id", "url", "status", "state", "version", "escalation_stage", "next_review_at",
        "created_at", "updated_at", "import_source", "last_seen_at", "not_seen_since",
        "iam_owner", "pam_owner", "runtime_owner", "secops_owner", "violations",
        "framework_ids",
    }
)  # fmt: skip
DATETIME_FIELDS = frozenset(
    {"last_rotated_at", "last_used_at", "expires_at", "last_attested_at", "approved_at"}
)
INT_FIELDS = frozenset({"rotation_days", "review_interval_days", "max_lease_seconds"})
BOOL_FIELDS = frozenset({"requires_human_signoff", "interactive_login", "mfa_active"})
TRUE, FALSE = {"true", "yes", "1", "y"}, {"false", "no", "0", "n"}


def _datetime(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        parsed = value
    else:
        text = str(value).strip()
        parsed = dt.datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def _convert(field: str, value: Any) -> Any:
    if field in DATETIME_FIELDS:
        try:
            return _datetime(value)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{field}: not an ISO 8601 date ({value!r})") from exc
    if field in INT_FIELDS:
        try:
            return int(str(value).strip())
        except ValueError as exc:
            raise ValueError(f"{field}: not a whole number ({value!r})") from exc
    if field in BOOL_FIELDS:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in TRUE | FALSE:
            return text in TRUE
        raise ValueError(f"{field}: not true or false ({value!r})")
    if field in ("tags", "revoker_teams"):
        if isinstance(value, list):
            return [str(tag).strip() for tag in value if str(tag).strip()]
        return [tag for tag in str(value).replace(",", " ").split() if tag]
    if isinstance(value, str):
        return _unguarded(value.strip())
    return value


def _unguarded(text: str) -> str:
    """Undo the export's spreadsheet guard (registry.selectors.exports.csv_safe), so an exported
    file imports back unchanged."""
    if text[:1] == "'" and text[1:2] in ("=", "+", "-", "@", "\t", "\r"):
        return text[1:]
    return text


def _row(line: int, record: dict, system: str | None) -> ImportRow:
    row = ImportRow(line=line)
    for key, value in record.items():
        if key in IGNORED or value is None or value == "" or value == []:
            continue
        if key == "identifiers":
            try:
                if isinstance(value, str):
                    row.identifiers = identifier_rules.parse_text(value, separator=";")
                else:
                    row.identifiers = identifier_rules.parse(value)
            except Invalid as exc:
                row.errors.append(f"identifiers: {exc.message}")
            continue
        try:
            row.data[key] = _convert(key, value)
        except ValueError as exc:
            row.errors.append(str(exc))
    if system:
        row.data["system"] = system
    return row


def _unknown(keys: set[str]) -> list[str]:
    return sorted(keys - ACCEPTED - IGNORED)


def read_csv(source: BinaryIO, *, system: str | None = None) -> Iterator[ImportRow]:
    try:
        text = io.TextIOWrapper(source, encoding="utf-8-sig", newline="")
        reader = csv.DictReader(text)
        header = reader.fieldnames or []
    except UnicodeDecodeError:
        yield ImportRow(line=1, errors=["the file is not UTF-8 text"])
        return
    if unknown := _unknown(set(header)):
        yield ImportRow(line=1, errors=[f"unknown columns: {', '.join(unknown)}"])
        return
    try:
        for record in reader:
            if not any((v or "").strip() for v in record.values() if isinstance(v, str)):
                continue
            if None in record:  # more cells than the header has columns
                yield ImportRow(line=reader.line_num, errors=["more cells than columns"])
                continue
            yield _row(reader.line_num, record, system)
    except (csv.Error, UnicodeDecodeError) as exc:
        yield ImportRow(line=reader.line_num, errors=[f"unreadable CSV: {exc}"])


def read_json(source: BinaryIO, *, system: str | None = None) -> Iterator[ImportRow]:
    try:
        document = json.load(source)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        yield ImportRow(line=0, errors=[f"not valid JSON: {exc}"])
        return
    items = document.get("results") if isinstance(document, dict) else document
    if not isinstance(items, list):
        yield ImportRow(line=0, errors=["expected a list of paths (or {'results': [...]})"])
        return
    for position, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            yield ImportRow(line=position, errors=["not an object"])
            continue
        if unknown := _unknown(set(item)):
            yield ImportRow(line=position, errors=[f"unknown fields: {', '.join(unknown)}"])
            continue
        yield _row(position, item, system)
