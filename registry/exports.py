"""Writing paths out: the inventory's CSV download, `export_paths` (CSV or JSON) and the
evidence pack share these columns and the spreadsheet-safety rule."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet

from registry.models import AccessPath

COLUMNS = [
    "id", "name", "kind", "system", "external_id", "environment", "status", "owner_team",
    "steward_team", "created_via", "created_by_ref", "consumers", "ticket_url",
    "artifact_ref", "justification", "privilege_scope", "risk_tier", "data_classification",
    "credential_lifetime", "rotation_days", "last_rotated_at", "last_used_at",
    "requires_human_signoff", "revocation_plan", "expires_at", "review_interval_days",
    "last_attested_at", "next_review_at", "escalation_stage", "version", "interactive_login",
    "import_source", "last_seen_at", "not_seen_since", "created_at", "updated_at", "tags",
]  # fmt: skip
CHUNK = 2000


def csv_safe(value: Any) -> str:
    """A spreadsheet must not run a cell as a formula (CSV injection)."""
    text = "" if value is None else str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


def _value(path: AccessPath, column: str) -> Any:
    if column in ("owner_team", "steward_team"):
        team = getattr(path, column)
        return team.slug if team else None
    if column == "tags":
        return [tag.slug for tag in path.tags.all()]
    if column == "id":
        return str(path.pk)
    value = getattr(path, column)
    return value.isoformat() if hasattr(value, "isoformat") else value


def _ordered(qs: QuerySet[AccessPath]) -> Iterator[AccessPath]:
    """In creation order, fetched in chunks with their tags (constant memory)."""
    return qs.order_by("created_at", "id").prefetch_related("tags").iterator(CHUNK)


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
        row[-1] = " ".join(row[-1])
        yield writer.writerow([csv_safe(value) for value in row])


def json_chunks(qs: QuerySet[AccessPath]) -> Iterator[str]:
    """The paths as one JSON list, written a path at a time."""
    yield "["
    for index, path in enumerate(_ordered(qs)):
        record = {column: _value(path, column) for column in COLUMNS}
        yield ("," if index else "") + "\n" + json.dumps(record, sort_keys=True)
    yield "\n]\n"
