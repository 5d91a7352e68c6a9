"""Server-side cursors planned for reading every row, and read in batches.

PostgreSQL plans a DECLAREd cursor for the first tenth of its rows
(cursor_tuple_fraction). With an ORDER BY that an index matches, that plan walks the
whole index and tests the filter on every heap row, in index order: random reads that
grow with the table, not with the rows wanted. The export of 3,783 lapsed paths of
100,000 took 272 ms that way against 68 ms for a scan and a sort of the matches; the
sweep's reminder queries at a million paths, with nothing left to remind, took 200 s
instead of a few. Readers that read every row raise the fraction to 1.0 while the cursor
is declared (its first fetch), then reset it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import suppress
from typing import Any, TypeVar

from django.db import DatabaseError, connections

Row = TypeVar("Row")


def _reset(connection: Any) -> None:
    with connection.cursor() as cursor:
        cursor.execute("RESET cursor_tuple_fraction")


def planned_for_every_row(rows: Iterator[Row], using: str) -> Iterator[Row]:
    """`rows` (a queryset's `.iterator()`: a server-side cursor on PostgreSQL), its
    query planned for reading every row rather than the first few."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        yield from rows
        return
    with connection.cursor() as cursor:
        cursor.execute("SET cursor_tuple_fraction = 1.0")
    try:
        first = next(rows, None)
    except BaseException:  # an interrupt too: the setting must not outlive the cursor
        # Inside a transaction, its rollback undoes the SET too (and nothing else runs);
        # a connection that broke has taken the setting with it.
        if connection.get_autocommit():
            with suppress(DatabaseError):
                _reset(connection)
        raise
    _reset(connection)
    if first is not None:
        yield first
        yield from rows


def batched(rows: Iterable[Row], size: int) -> Iterator[list[Row]]:
    """`rows` (a cursor read in full) in lists of `size`, the last one shorter."""
    batch: list[Row] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
