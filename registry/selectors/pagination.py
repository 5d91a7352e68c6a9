"""Keyset pagination for the HTML pages: constant cost at any depth, no COUNT.

A page is ordered by one column and the primary key as tie-breaker; the cursor carries
the last row's (column value, pk) and the sort it belongs to, so a cursor from another
sort is ignored rather than misread. Nullable columns sort their nulls last.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from dataclasses import dataclass

from django.db.models import F, Q, QuerySet


@dataclass(frozen=True)
class Sort:
    key: str  # what the page's ?sort= says
    label: str
    field: str
    descending: bool = False
    nullable: bool = False
    is_date: bool = True


SORTS: dict[str, Sort] = {
    s.key: s
    for s in (
        Sort("created", "Oldest first", "created_at"),
        Sort("-created", "Newest first", "created_at", descending=True),
        Sort("name", "Name", "name", is_date=False),
        Sort("review", "Review due soonest", "next_review_at", nullable=True),
        Sort("expiry", "Expiring soonest", "expires_at", nullable=True),
        Sort("-updated", "Recently changed", "updated_at", descending=True),
    )
}
DEFAULT_SORT = SORTS["created"]


def _encode(sort: Sort, value, pk: uuid.UUID) -> str:
    if isinstance(value, dt.datetime):
        value = value.isoformat()
    raw = json.dumps([sort.key, value, str(pk)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(sort: Sort, cursor: str):
    """(value, pk) after which the next page starts, or None for a bad/foreign cursor."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key, value, pk = json.loads(base64.urlsafe_b64decode(padded))
        if key != sort.key:
            return None
        if value is not None and sort.is_date:
            value = dt.datetime.fromisoformat(value)
        elif value is not None and not isinstance(value, str):
            return None
        return value, uuid.UUID(pk)
    except (ValueError, TypeError):
        return None


def _after(sort: Sort, value, pk: uuid.UUID) -> Q:
    field = sort.field
    if value is None:  # inside the trailing block of nulls
        return Q(**{f"{field}__isnull": True, "id__gt": pk})
    beyond = "lt" if sort.descending else "gt"
    tie = "lt" if sort.descending else "gt"
    condition = Q(**{f"{field}__{beyond}": value}) | Q(**{field: value, f"id__{tie}": pk})
    if sort.nullable:
        condition |= Q(**{f"{field}__isnull": True})
    return condition


def keyset_page(
    qs: QuerySet, cursor: str | None, size: int, sort: Sort = DEFAULT_SORT
) -> tuple[list, str | None]:
    """One page after `cursor` and the cursor of the next page (None on the last)."""
    # NULLS LAST only where a column has nulls: on the others it would stop PostgreSQL
    # from reading a descending order straight off the index.
    nulls_last = True if sort.nullable else None
    field = F(sort.field)
    if sort.descending:
        column = field.desc(nulls_last=nulls_last)
    else:
        column = field.asc(nulls_last=nulls_last)
    qs = qs.order_by(column, "-id" if sort.descending else "id")
    position = _decode(sort, cursor) if cursor else None
    if position is not None:
        qs = qs.filter(_after(sort, *position))
    rows = list(qs[: size + 1])
    if len(rows) <= size:
        return rows, None
    last = rows[size - 1]
    return rows[:size], _encode(sort, getattr(last, sort.field), last.pk)
