"""A person's own settings: saved inventory filters."""

from __future__ import annotations

import datetime as dt
import sys
from urllib.parse import parse_qsl, urlencode

from django.db import IntegrityError, transaction

from registry.audit import audit_record
from registry.models import SavedFilter
from registry.rules import errors, permissions
from registry.rules.actors import Actor
from registry.rules.errors import Invalid, InvalidTransition
from registry.services._common import acting_person, refuse_if, require_text, resolve_now

# Page mechanics, not filters: a saved filter starts at the first page.
NOT_SAVED = frozenset({"cursor", "csrfmiddlewaretoken", "name"})


def _max_length(field: str) -> int:
    """The column's limit, from the model (a column without one has no limit)."""
    return getattr(SavedFilter._meta.get_field(field), "max_length", None) or sys.maxsize


@transaction.atomic
def saved_filter_create(
    *, actor: Actor, name: str, query: str, now: dt.datetime | None = None
) -> SavedFilter:
    now = resolve_now(now)
    refuse_if(permissions.refuse_saved_filter_create(actor))
    user = acting_person(actor)
    name = require_text("name", name)
    if len(name) > _max_length("name"):
        raise Invalid.single("name", "Use at most 80 characters.")
    pairs = [(k, v) for k, v in parse_qsl(query) if k not in NOT_SAVED and v]
    if not pairs:
        raise Invalid.single("name", errors.SAVED_FILTER_EMPTY)
    query = urlencode(pairs)
    if len(query) > _max_length("query"):
        raise Invalid.single("name", "This filter is too long to save.")
    try:
        with transaction.atomic():
            saved = SavedFilter.objects.create(user=user, name=name, query=query, created_at=now)
    except IntegrityError as exc:
        raise Invalid.single("name", errors.SAVED_FILTER_NAME_TAKEN) from exc
    audit_record(
        actor=actor,
        action="saved_filter.created",
        obj=saved,
        now=now,
        changes={"name": [None, name], "query": [None, query]},
    )
    return saved


@transaction.atomic
def saved_filter_archive(
    *, actor: Actor, saved: SavedFilter, now: dt.datetime | None = None
) -> None:
    now = resolve_now(now)
    refuse_if(permissions.refuse_saved_filter_archive(actor, saved))
    updated = SavedFilter.objects.filter(pk=saved.pk, archived_at__isnull=True).update(
        archived_at=now
    )
    if updated != 1:
        raise InvalidTransition(errors.SAVED_FILTER_GONE)
    audit_record(
        actor=actor,
        action="saved_filter.archived",
        obj=saved,
        now=now,
        changes={"archived_at": [None, now.isoformat()]},
    )
