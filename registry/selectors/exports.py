"""Writing paths out: the inventory's CSV download, `export_paths` (CSV or JSON) and the
evidence pack share these columns and the spreadsheet-safety rule."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet

from registry.models import AccessPath
from registry.rules.control_points import CONTROL_POINTS, TEAM_RELATIONS, with_authority

COLUMNS = [
    "id", "name", "kind", "system", "external_id", "environment", "status", "owner_team",
    "steward_team", "created_via", "created_by_ref", "consumers", "ticket_url",
    "artifact_ref", "justification", "privilege_scope", "risk_tier", "data_classification",
    "credential_lifetime", "rotation_days", "last_rotated_at", "last_used_at",
    "requires_human_signoff", "revocation_plan", "rollback_plan", "expires_at",
    "review_interval_days",
    "last_attested_at", "next_review_at", "escalation_stage", "version", "interactive_login",
    "import_source", "last_seen_at", "not_seen_since", "created_at", "updated_at",
    "approved_by", "approved_by_team", "approved_at", "approval_ticket_url", "revoker_teams",
    "iam_team", "pam_team", "secops_team",
    "iam_owner", "pam_owner", "runtime_owner", "secops_owner", "tags",
]  # fmt: skip
# The effective control-point owners (registry.rules.control_points): the path's own team,
# the system's default, or the steward; the `*_team` columns are the path's own values,
# which the registry format imports back (the `*_owner` ones it ignores).
OWNER_COLUMNS = {f"{point}_owner": point for point in CONTROL_POINTS}
TEAM_COLUMNS = ("owner_team", "steward_team", "approved_by_team", "iam_team", "pam_team",
                "secops_team")  # fmt: skip
CHUNK = 2000


def csv_safe(value: Any) -> str:
    """A spreadsheet must not run a cell as a formula (CSV injection)."""
    text = "" if value is None else str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


def _value(path: AccessPath, column: str) -> Any:
    if column in TEAM_COLUMNS:
        team = getattr(path, column)
        return team.slug if team else None
    if column in OWNER_COLUMNS:
        owner = path.authority.owners[OWNER_COLUMNS[column]].team
        return owner.slug if owner else None
    if column == "revoker_teams":
        return path.authority.revoker_slugs()
    if column == "tags":
        return [tag.slug for tag in path.tags.all()]
    if column == "id":
        return str(path.pk)
    value = getattr(path, column)
    return value.isoformat() if hasattr(value, "isoformat") else value


def _ordered(qs: QuerySet[AccessPath]) -> Iterator[AccessPath]:
    """In creation order, fetched in chunks with their tags, teams and authority
    (constant memory, constant queries per chunk)."""
    rows = (
        qs.order_by("created_at", "id")
        .select_related("owner_team", *TEAM_RELATIONS)
        .prefetch_related("tags", "revoker_teams")
        .iterator(CHUNK)
    )
    return with_authority(rows, CHUNK)


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_lines(qs: QuerySet[AccessPath]) -> Iterator[str]:
    """The paths as CSV text, a line at a time; the header first. The registry's own
    import reads it back (registry.importers.registry_format)."""
    writer = csv.writer(_Echo())
    yield writer.writerow(COLUMNS)
    for path in _ordered(qs):
        row = [_value(path, column) for column in COLUMNS]
        row = [" ".join(value) if isinstance(value, list) else value for value in row]
        yield writer.writerow([csv_safe(value) for value in row])


def json_chunks(qs: QuerySet[AccessPath]) -> Iterator[str]:
    """The paths as one JSON list, written a path at a time."""
    yield "["
    for index, path in enumerate(_ordered(qs)):
        record = {column: _value(path, column) for column in COLUMNS}
        yield ("," if index else "") + "\n" + json.dumps(record, sort_keys=True)
    yield "\n]\n"
