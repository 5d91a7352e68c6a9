"""Registering without saving: what `path_register` would say about a payload, and the
posture rules the path would break once saved. Used by the register page's live check;
nothing it does survives (no row, audit event or fact)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.db import transaction

from registry.models import AccessPath
from registry.rules.actors import Actor
from registry.rules.policies import current_policy
from registry.rules.posture import PostureRule, path_violations
from registry.services import identifiers as identifier_rules
from registry.services.paths import (
    _duplicate_external_id_as_invalid,
    _new_path,
    _refuse_duplicate_external_id,
)


class _Undo(Exception):
    """Rolls back the trial insert of `register_verdict`."""


def register_check(*, actor: Actor, data: Mapping[str, Any], now: dt.datetime) -> AccessPath:
    """The register service's rules for `data`, without saving: raises what
    `path_register` would raise for them (bar a conflict only the save can see) and
    returns the path as it would be built."""
    data = dict(data)
    identifiers = data.pop("identifiers", None)
    if identifiers is not None:
        identifier_rules.parse(identifiers)
    path, _tags, _revokers, _changes = _new_path(actor, data, now=now, policy=current_policy())
    _refuse_duplicate_external_id(path, actor)
    return path


def register_verdict(path: AccessPath, *, now: dt.datetime) -> list[PostureRule]:
    """The posture rules `path` (built by `register_check`, not saved) would break once
    saved.

    The rules are SQL predicates (rules/posture.py: the same ones the path page, the
    dashboard and the inventory filter use), so the path is inserted in a savepoint, the
    rules asked about it, and the insert rolled back before anything else happens: the
    verdict cannot drift from the page's."""
    found: list[PostureRule] = []
    try:
        with transaction.atomic():
            # A registration of the same key committed since the check: the field error.
            with _duplicate_external_id_as_invalid():
                path.save(force_insert=True)
            found = path_violations(path, now=now, policy=current_policy())
            raise _Undo
    except _Undo:
        pass
    return found
