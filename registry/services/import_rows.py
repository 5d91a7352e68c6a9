"""What an import decides about one row, before anything is written: whether it is
plainly safe text (the fast path past the full input check), its key, whether the
source says it is gone, whether it states nothing new about its registered path, and
whether the bulk registration can take it (services/imports.py runs them)."""

from __future__ import annotations

import datetime as dt
import re

from registry.importers.base import ImportRow
from registry.models import AccessPath
from registry.rules.path_fields import AUTHORITY_TEAM_FIELDS
from registry.rules.status import is_live
from registry.rules.validation import MAX_TEXT_LENGTH

_SURROGATE_OR_NUL = re.compile("[\\x00\\ud800-\\udfff]")


def plainly_safe(row: ImportRow) -> bool:
    """True when `unsafe_input_errors` could find nothing in the row, checked in one
    pass: no value nests (a dict, or a list holding a list or a dict: the full check
    measures depth), no text is longer than the limit, and one search over all of the
    row's text finds neither a NUL nor half of a surrogate pair (the separator cannot
    make either). A row that fails this gets the full check with its per-field messages."""
    texts: list[str] = []
    for key, value in row.data.items():
        texts.append(key)
        if isinstance(value, str):
            texts.append(value)
        elif isinstance(value, dict):
            return False
        elif isinstance(value, list):
            if any(isinstance(item, dict | list) for item in value):
                return False
            texts += [item for item in value if isinstance(item, str)]
    for kind, value in row.identifiers:
        texts += [kind, value]
    if any(len(text) > MAX_TEXT_LENGTH for text in texts):
        return False
    return _SURROGATE_OR_NUL.search("\n".join(texts)) is None


def row_key(row: ImportRow) -> tuple:
    return row.data.get("system"), row.data.get("external_id")


def gone_at_source(row: ImportRow, now: dt.datetime) -> bool:
    """The source says the credential can no longer be used."""
    expires = row.data.get("expires_at")
    return row.disabled or (expires is not None and expires <= now)


def registered_paths(chunk: list[ImportRow]) -> dict[tuple, AccessPath]:
    ids = {row.data.get("external_id") for row in chunk if row.data.get("external_id")}
    # Naming the empty id lets PostgreSQL use the partial index on external_id.
    found = (
        AccessPath.objects.filter(external_id__in=ids)
        .exclude(external_id="")
        .prefetch_related("tags", "revoker_teams")
    )
    return {(path.system, path.external_id): path for path in found}


def states_nothing_new(row: ImportRow, path: AccessPath, now: dt.datetime) -> bool:
    """The row states nothing the registry does not already hold (so a re-import of
    the same file costs no write at all)."""
    if row.disabled or not is_live(path, now):
        return False
    data = dict(row.data)
    if row.interactive_login is not None:
        data["interactive_login"] = row.interactive_login
    attested_at = data.pop("last_attested_at", None)
    if attested_at is not None and (
        path.last_attested_at is None or path.last_attested_at < attested_at
    ):
        return False
    expires = data.get("expires_at")
    if expires is not None and expires <= now:
        return False
    for name, value in data.items():
        if name == "tags":
            if sorted({t.lower() for t in value}) != sorted(t.slug for t in path.tags.all()):
                return False
        elif name == "revoker_teams":
            if {t.pk for t in value} != {t.pk for t in path.revoker_teams.all()}:
                return False
        elif name in ("owner_team", "steward_team", *AUTHORITY_TEAM_FIELDS):
            if (value.pk if value else None) != getattr(path, f"{name}_id"):
                return False
        elif getattr(path, name) != value:
            return False
    return True


def plain_new(row: ImportRow, now: dt.datetime) -> bool:
    """A new row the bulk registration takes: nothing but facts to record."""
    data = row.data
    return bool(data.get("system") and data.get("external_id")) and not (
        gone_at_source(row, now)
        or "tags" in data
        or "revoker_teams" in data
        or "last_attested_at" in data
        or data.get("owner_team") is not None
    )
