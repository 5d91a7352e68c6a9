"""Bulk actions from the pages: the same service the single action calls, applied to
each selected object in turn inside one request, with one result per row.

Each call is its own transaction (the services open one), so a refused row changes
nothing and the rows after it still proceed. A refusal that is a security event is
recorded exactly as the single action's would be (`error_status`). The selection is
bounded so one request stays short: a larger estate is worked through page by page.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from django.http import QueryDict

from registry.rules.errors import ServiceError
from registry.web.views._common import error_status

T = TypeVar("T")

# The most rows one bulk request acts on: a page of the inventory or of a queue.
MAX_ROWS = 100
TOO_MANY_ROWS = f"Select at most {MAX_ROWS} rows at a time."
NOTHING_SELECTED = "Select at least one row."


@dataclass(frozen=True)
class RowResult:
    """What happened to one selected row: done (with what was done) or refused (why)."""

    label: str
    url: str
    ok: bool
    message: str


@dataclass(frozen=True)
class BulkOutcome:
    rows: list[RowResult]

    @property
    def done(self) -> int:
        return sum(1 for row in self.rows if row.ok)

    @property
    def refused(self) -> int:
        return len(self.rows) - self.done

    @property
    def summary(self) -> str:
        done = f"{self.done} done"
        return done if not self.refused else f"{done}, {self.refused} refused"


class SelectionError(ValueError):
    """The selection itself is unusable (empty, too large, malformed); nothing was done."""


def selected_ids(data: QueryDict, field: str = "selected") -> list[str]:
    """The distinct ids ticked in a bulk form, in the order shown, bounded by MAX_ROWS."""
    ids = list(dict.fromkeys(value.strip() for value in data.getlist(field) if value.strip()))
    if not ids:
        raise SelectionError(NOTHING_SELECTED)
    if len(ids) > MAX_ROWS:
        raise SelectionError(TOO_MANY_ROWS)
    if any(len(value) > 64 for value in ids):
        raise SelectionError("A selected row's id is malformed.")
    return ids


def run_each(
    items: Iterable[T],
    act: Callable[[T], str],
    *,
    label: Callable[[T], str],
    url: Callable[[T], str],
) -> BulkOutcome:
    """Call `act` on each item; it returns what was done, or raises the service's
    refusal. Only service refusals are per-row results: anything else is a bug and
    propagates (the rows already done stay done, each in its own transaction)."""
    rows: list[RowResult] = []
    for item in items:
        try:
            message = act(item)
        except ServiceError as exc:
            error_status(exc)  # records a refusal that is a security event
            rows.append(RowResult(label(item), url(item), False, exc.message))
        else:
            rows.append(RowResult(label(item), url(item), True, message))
    return BulkOutcome(rows)


def missing_rows(wanted: Sequence[str], found: Iterable[str], *, label: str) -> list[RowResult]:
    """Rows for selected ids the person cannot see (or that don't exist): refused as
    "not found", never revealing which of the two it is."""
    seen = set(found)
    return [
        RowResult(value, "", False, f"No such {label}.") for value in wanted if value not in seen
    ]
