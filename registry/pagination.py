"""Keyset pagination over (created_at, id): constant cost at any depth, no COUNT."""

from __future__ import annotations

import base64
import datetime as dt
import uuid

from django.db.models import Q, QuerySet


def encode_cursor(created_at: dt.datetime, pk: uuid.UUID) -> str:
    raw = f"{created_at.isoformat()}|{pk}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[dt.datetime, uuid.UUID] | None:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created_at, pk = base64.urlsafe_b64decode(padded).decode().split("|", 1)
        return dt.datetime.fromisoformat(created_at), uuid.UUID(pk)
    except ValueError:
        return None


def keyset_page(qs: QuerySet, cursor: str | None, size: int) -> tuple[list, str | None]:
    """One page after `cursor` and the cursor of the next page (None on the last)."""
    qs = qs.order_by("created_at", "id")
    position = decode_cursor(cursor) if cursor else None
    if position is not None:
        created_at, pk = position
        qs = qs.filter(Q(created_at__gt=created_at) | Q(created_at=created_at, id__gt=pk))
    rows = list(qs[: size + 1])
    if len(rows) <= size:
        return rows, None
    last = rows[size - 1]
    return rows[:size], encode_cursor(last.created_at, last.pk)
