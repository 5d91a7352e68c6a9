"""Attestation: the owning team confirms, for one path, that it should go on existing."""

from __future__ import annotations

import datetime as dt

from django.db import transaction

from registry.audit import audit_record
from registry.models import AccessPath, Attestation
from registry.rules import errors, permissions, preconditions
from registry.rules.actors import Actor
from registry.rules.errors import Invalid
from registry.rules.validation import secret_errors
from registry.services._common import (
    check_version,
    lock_path,
    owning_team,
    refuse_if,
    refuse_transition,
    require_text,
    resolve_now,
    save_path,
)
from registry.services.path_retirement import revoke_locked

Decision = Attestation.Decision


def _check_decision(
    decision: str,
    *,
    still_needed: bool,
    justification_accurate: bool,
    least_privilege: bool,
    no_human_use: bool,
    note: str,
) -> None:
    if decision not in Decision.values:
        raise Invalid.single("decision", f"Choose one of: {', '.join(Decision.values)}.")
    if decision == Decision.REVOKE:
        return
    ticked = {
        "still_needed": still_needed,
        "justification_accurate": justification_accurate,
        "least_privilege": least_privilege,
        "no_human_use": no_human_use,
    }
    # Keeping needs all four; reducing the scope only that it is still needed (the
    # scope is what changes). An unticked box is named, not read as "not needed": a
    # person who forgot to tick is told what to tick.
    required = ticked if decision == Decision.KEEP else {"still_needed": still_needed}
    if missing := [errors.ATTEST_CONFIRMATIONS[name] for name, ok in required.items() if not ok]:
        action = "keep this path" if decision == Decision.KEEP else "reduce its scope"
        message = errors.CONFIRMATIONS_MISSING.format(
            action=action, missing="; ".join(f"“{label}”" for label in missing)
        )
        raise Invalid.single("decision", message)
    if decision == Decision.REDUCE_SCOPE and not note.strip():
        raise Invalid.single("note", errors.REDUCE_SCOPE_NEEDS_NOTE)


@transaction.atomic
def path_attest(
    *,
    actor: Actor,
    path: AccessPath,
    decision: str,
    still_needed: bool,
    justification_accurate: bool,
    least_privilege: bool,
    no_human_use: bool,
    note: str = "",
    expected_version: int | None = None,
    now: dt.datetime | None = None,
) -> Attestation:
    """Record a person's attestation. Keep or reduce_scope start a new review cycle
    (next review = now + the path's interval); revoke ends the path."""
    now = resolve_now(now)
    locked = lock_path(path.pk)
    refuse_if(permissions.refuse_attest(actor, locked))
    refuse_transition(preconditions.refuse_attest_now(locked, now))
    check_version(locked, expected_version)
    note = note.strip()
    if found := secret_errors({"note": note}):
        raise Invalid(found)
    _check_decision(
        decision,
        still_needed=still_needed,
        justification_accurate=justification_accurate,
        least_privilege=least_privilege,
        no_human_use=no_human_use,
        note=note,
    )
    attestation = Attestation(
        path=locked,
        team=owning_team(locked),
        attested_by=actor.user,
        decision=decision,
        still_needed=still_needed,
        justification_accurate=justification_accurate,
        least_privilege=least_privilege,
        no_human_use=no_human_use,
        note=note,
        created_at=now,
    )
    confirmations = {
        "decision": [None, decision],
        "still_needed": [None, still_needed],
        "justification_accurate": [None, justification_accurate],
        "least_privilege": [None, least_privilege],
        "no_human_use": [None, no_human_use],
    }
    if decision == Decision.REVOKE:
        attestation.save(force_insert=True)
        audit_record(
            actor=actor,
            action="access_path.attested",
            obj=locked,
            now=now,
            changes=confirmations,
            reason=note,
        )
        revoke_locked(
            locked,
            actor=actor,
            reason=require_text("note", note or "Revoked at attestation."),
            now=now,
        )
        return attestation
    attestation.next_review_at = now + dt.timedelta(days=locked.review_interval_days)
    attestation.save(force_insert=True)
    changes = save_path(
        locked,
        {
            "last_attested_at": now,
            "next_review_at": attestation.next_review_at,
            "escalation_stage": 0,
        },
        now=now,
    )
    audit_record(
        actor=actor,
        action="access_path.attested",
        obj=locked,
        now=now,
        changes=confirmations | changes,
        reason=note,
    )
    return attestation
