"""Downstream revocation: recording that a revoked or expired credential is disabled where
it lives ("revoked here" is not "gone" until someone confirms it), and flagging paths a
full sync still lists after they were retired here."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.db import transaction

from registry.audit import AuditEntry, audit_record, audit_record_many
from registry.models import AccessPath
from registry.rules import errors, permissions
from registry.rules.actors import Actor
from registry.rules.errors import InvalidTransition
from registry.rules.status import RETIRED_STATES, effective_state, live_q
from registry.services._common import (
    check_version,
    lock_path,
    refuse_if,
    require_text,
    resolve_now,
    save_path,
)


@transaction.atomic
def path_confirm_source_disabled(
    *,
    actor: Actor,
    path: AccessPath,
    note: str = "",
    expected_version: int | None = None,
    now: dt.datetime | None = None,
) -> AccessPath:
    """Record who confirmed, and when, that the path's credential is disabled at the
    source. Only for a revoked or expired path (expired by date before the sweep counts),
    once. The confirmation clears a full sync's "still listed" flag: if the next full
    sync still lists the credential, it flags the path again and security sees it."""
    now = resolve_now(now)
    locked = lock_path(path.pk)
    revokers = locked.revoker_teams.values_list("pk", flat=True)
    refuse_if(permissions.refuse_confirm_source_disabled(actor, locked, revokers))
    state = effective_state(locked, now)
    if state not in RETIRED_STATES:
        raise InvalidTransition(errors.SOURCE_PATH_LIVE.format(state=state))
    if locked.source_disabled_at is not None:
        raise InvalidTransition(
            errors.SOURCE_ALREADY_CONFIRMED.format(
                by=locked.source_disabled_by, at=locked.source_disabled_at
            )
        )
    check_version(locked, expected_version)
    note = require_text("note", note) if (note or "").strip() else ""
    writes: dict[str, Any] = {"source_disabled_at": now, "source_disabled_by": actor.label}
    if locked.source_still_listed_at is not None:
        writes["source_still_listed_at"] = None
    change_log = save_path(locked, writes, now=now)
    audit_record(
        actor=actor,
        action="access_path.source_disabled",
        obj=locked,
        now=now,
        changes=change_log,
        reason=note,
    )
    return locked


def paths_flag_still_listed(
    *, actor: Actor, path_ids: Iterable[Any], source: str, now: dt.datetime
) -> list[Any]:
    """A full sync of `source` still lists these retired paths' credentials: flag the
    ones not flagged yet (first sighting only; a later sync that still lists them
    changes nothing) in one update, one audit event each, in the caller's transaction.
    Returns the ids flagged now. Bookkeeping like the import's stamp: no version bump."""
    candidates = AccessPath.objects.filter(
        pk__in=list(path_ids), source_still_listed_at__isnull=True
    ).exclude(live_q(now))
    flagged = list(candidates.order_by("id").values_list("pk", flat=True))
    if not flagged:
        return []
    AccessPath.objects.filter(pk__in=flagged, source_still_listed_at__isnull=True).update(
        source_still_listed_at=now
    )
    reason = f"A full {source} sync still lists this credential, retired here."
    audit_record_many(
        actor=actor,
        now=now,
        entries=[
            AuditEntry(
                action="access_path.source_still_listed",
                obj=AccessPath(pk=pk),
                changes={"source_still_listed_at": [None, now]},
                reason=reason,
            )
            for pk in flagged
        ],
    )
    return flagged
