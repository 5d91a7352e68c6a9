"""Leak signals on a path (posture NHI2, secret leakage): a credential pasted into it.

When a change to a path is refused because a field held a credential (the services'
`secret_errors`, an identifier that is a credential), the credential has left its
vault: someone copied it into a form or an API call. The refused change rolls back;
then, in a transaction of its own, the path records when (`secret_refused_at`), the
refusal is audited (`access_path.secret_refused`: the fields' names, never a value) and
the path's facts are refreshed, so the dashboard counts NHI2 at once. A rotation
recorded later (`last_rotated_at` after `secret_refused_at`) clears the rule
(rules/posture.py). Called by the one place each surface records its refusals: the pages'
`error_status` (registry/web/views/_common.py) and the API's exception handler
(api/exceptions.py).

The signal is not a change of the record (its version stays, so the caller's corrected
retry is not refused as stale); the row is locked while it is written.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.db import transaction

from registry.audit import audit_record
from registry.models import AccessPath
from registry.rules.actors import Actor
from registry.rules.errors import Invalid, ServiceError
from registry.rules.validation import credential_refused_fields
from registry.selectors import path_get
from registry.services._common import lock_path
from registry.services.tallies import refresh_facts

logger = logging.getLogger(__name__)

ACTION = "access_path.secret_refused"


@transaction.atomic
def path_secret_refused(
    *, actor: Actor, path: AccessPath, fields: list[str], now: dt.datetime
) -> AccessPath:
    """Record that a change to `path` was refused because `fields` held a credential."""
    locked = lock_path(path.pk)
    before = locked.secret_refused_at
    AccessPath.objects.filter(pk=locked.pk).update(secret_refused_at=now)
    locked.secret_refused_at = now
    refresh_facts([locked.pk], now=now)
    audit_record(
        actor=actor,
        action=ACTION,
        obj=locked,
        now=now,
        changes={"secret_refused_at": [before, now], "fields": [None, sorted(fields)]},
        reason=(
            "A change was refused because " + ", ".join(sorted(fields)) + " held a credential. "
            "Treat the credential as leaked: rotate it at its source and record the rotation."
        ),
    )
    return locked


def note_refusal(
    exc: ServiceError, *, actor: Actor, path: Any, now: dt.datetime
) -> AccessPath | None:
    """After a refused change to a path (the refusal's own transaction rolled back):
    when the refusal says a field held a credential, record the signal. `path`: the
    AccessPath the request named (anything else, or one the actor cannot see: nothing).
    Never raises: the caller is answering the refusal."""
    if not isinstance(exc, Invalid) or not isinstance(path, AccessPath):
        return None
    fields = credential_refused_fields(exc.errors)
    if not fields:
        return None
    try:
        if path_get(actor=actor, path_id=path.pk, now=now) is None:
            return None
        return path_secret_refused(actor=actor, path=path, fields=fields, now=now)
    except Exception:  # the refusal's answer must not fail because its signal did
        logger.exception("could not record the refused secret on path %s", path.pk)
        return None
