"""Registering without saving: what `path_register` would say about a payload, and the
posture rules the path would break once saved. Used by the register page's live check;
nothing it does survives (no row, audit event or fact).

The check answers about the path as written, never about other paths: it is called on
every keystroke, unaudited, so anything it said about the estate would be an oracle for
what other teams hold. So it leaves out the duplicate-external-id refusal and the rules
that compare a path with others (NHI8, NHI9); the real registration, audited, still
applies both, with the answer an invisible path always gets (services/paths.py).

The API's evaluate endpoint and a register's dry run (`register_evaluate`) answer from
the same check for the same reason: a pipeline may call them as often as it likes,
unaudited, so they must not say what other teams hold either."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.db import transaction

from registry.models import AccessPath, SignoffPolicy
from registry.rules.actors import Actor
from registry.rules.enforcement import Verdict, verdict_for
from registry.rules.policies import current_policy
from registry.rules.posture import PostureRule, Rule, path_violations
from registry.services import identifiers as identifier_rules
from registry.services.paths import _new_path
from registry.services.signoff import clean_policy

# The posture rules that compare a path with other paths (a shared external id).
RULES_ABOUT_OTHER_PATHS = frozenset({Rule.NHI8_ENV_ISOLATION, Rule.NHI9_REUSE})


class _Undo(Exception):
    """Rolls back the trial insert of `register_verdict`."""


def register_check(*, actor: Actor, data: Mapping[str, Any], now: dt.datetime) -> AccessPath:
    """The register service's rules for `data`, without saving: raises what
    `path_register` would raise for them (bar what only other paths or the save can
    show) and returns the path as it would be built."""
    data = dict(data)
    identifiers = data.pop("identifiers", None)
    if identifiers is not None:
        identifier_rules.parse(identifiers)
    path, _tags, _revokers, _changes = _new_path(actor, data, now=now, policy=current_policy())
    return path


def register_verdict(
    path: AccessPath, *, now: dt.datetime, signoff: Mapping[str, Any] | None = None
) -> list[PostureRule]:
    """The posture rules `path` (built by `register_check`, not saved) would break once
    saved, among those about the path itself.

    The rules are SQL predicates (rules/posture.py: the same ones the path page, the
    dashboard and the inventory filter use), so the path is inserted in a savepoint, the
    rules asked about it, and the insert rolled back before anything else happens: the
    verdict cannot drift from the page's. The trial row carries no external id, so it
    can neither collide with nor be compared to another team's path. `signoff`: the
    checked values of the sign-off policy the registration carries, inserted with it."""
    found: list[PostureRule] = []
    path.external_id = ""
    try:
        with transaction.atomic():
            path.save(force_insert=True)
            if signoff is not None:
                SignoffPolicy.objects.create(
                    path=path, created_at=now, updated_at=now, updated_by_label="", **signoff
                )
            found = path_violations(path, now=now, policy=current_policy())
            raise _Undo
    except _Undo:
        pass
    return [rule for rule in found if rule.code not in RULES_ABOUT_OTHER_PATHS]


def register_evaluate(*, actor: Actor, data: Mapping[str, Any], now: dt.datetime) -> Verdict:
    """Policy at request time without saving (the evaluate endpoint, `?dry_run=true`):
    raises what `register_check` raises for `data` (the register's own 400/403), else the
    verdict on the rules the path would break once saved (rules/enforcement.py). A new
    path has no exceptions yet and broke nothing before."""
    data = dict(data)
    carried = data.pop("signoff_policy", None)
    signoff = None if carried is None else clean_policy(carried, prefix="signoff_policy.")
    path = register_check(actor=actor, data=data, now=now)
    return verdict_for(register_verdict(path, now=now, signoff=signoff), policy=current_policy())
