"""Keyset pagination for the HTML pages: constant cost at any depth, no COUNT.

A page is ordered by one column and the primary key as tie-breaker; the cursor carries
the last row's (column value, pk) and the sort it belongs to, so a cursor from another
sort is ignored rather than misread. The next page starts where the (column, id) index
is past the cursor, as a row comparison, so a deep page costs what the first does.
Nullable columns sort their nulls last.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import BooleanField, Expression, F, Q, QuerySet


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


class RowComparison(Expression):
    """`(a, b) > (%s, %s)` (or `<`): a row-value comparison. PostgreSQL serves it as one
    range of the (column, id) index, starting at the cursor; the equivalent
    `a > x OR (a = x AND b > y)` made it walk the index from the start (500,002 rows
    skipped at mid-table of a million). SQLite has row values since 3.15."""

    output_field = BooleanField()
    conditional = True

    def __init__(self, columns: tuple[str, ...], operator: str, values: tuple) -> None:
        if operator not in ("<", ">") or len(columns) != len(values):
            raise ValueError("a row comparison is < or > over as many values as columns")
        super().__init__()
        self.columns: list[Any] = [F(name) for name in columns]
        self.operator = operator
        self.values = values

    def get_source_expressions(self) -> list[Any]:
        return self.columns

    def set_source_expressions(self, exprs: Sequence[Any]) -> None:
        self.columns = list(exprs)

    def as_sql(self, compiler, connection):
        left, params = [], []
        for column in self.columns:
            sql, column_params = compiler.compile(column)
            left.append(sql)
            params.extend(column_params)
        for column, value in zip(self.columns, self.values, strict=True):
            # The column's own adaptation: a UUID as SQLite's hex text, a datetime as
            # each backend stores it.
            params.append(column.output_field.get_db_prep_value(value, connection))
        right = ", ".join(["%s"] * len(self.values))
        return f"({', '.join(left)}) {self.operator} ({right})", params


def _after(sort: Sort, value, pk: uuid.UUID) -> Q:
    """Rows after (value, pk) among the rows whose sort column is set: one index range.
    The trailing block of nulls (nullable sorts) is read separately (keyset_page)."""
    operator = "<" if sort.descending else ">"
    return Q(RowComparison((sort.field, "id"), operator, (value, pk)))


def _in_nulls_after(sort: Sort, pk: uuid.UUID | None) -> Q:
    """The trailing block of nulls, after `pk` (None: from its start), in id order."""
    condition = Q(**{f"{sort.field}__isnull": True})
    if pk is not None:
        condition &= Q(**{f"id__{'lt' if sort.descending else 'gt'}": pk})
    return condition


def keyset_page(
    qs: QuerySet, cursor: str | None, size: int, sort: Sort = DEFAULT_SORT
) -> tuple[list, str | None]:
    """One page after `cursor` and the cursor of the next page (None on the last).

    One query; two on the page of a nullable sort where the set values run out and the
    nulls begin (each an index range: an OR of the two would be neither)."""
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
    wanted = size + 1
    if position is None:
        rows = list(qs[:wanted])
    elif position[0] is None:  # inside the trailing block of nulls
        rows = list(qs.filter(_in_nulls_after(sort, position[1]))[:wanted])
    else:
        rows = list(qs.filter(_after(sort, *position))[:wanted])
        if sort.nullable and len(rows) < wanted:
            rows += list(qs.filter(_in_nulls_after(sort, None))[: wanted - len(rows)])
    if len(rows) <= size:
        return rows, None
    last = rows[size - 1]
    return rows[:size], _encode(sort, getattr(last, sort.field), last.pk)
