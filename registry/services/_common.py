"""Building blocks every service uses: time, row locks, compare-and-set saves, checks."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import QuerySet
from django.utils import timezone

from registry.audit import audit_record, diff
from registry.models import AccessPath, Claim, Team, Transfer
from registry.rules import errors
from registry.rules.actors import Actor
from registry.rules.errors import Invalid, InvalidTransition, NotAllowed, StaleVersion
from registry.rules.policies import Policy
from registry.rules.validation import justification_error, secret_errors
from registry.runtime.cursor_plan import batched, planned_for_every_row
from registry.runtime.writer_lock import hold_writer_lock
from registry.services.tallies import refresh_facts


def resolve_now(now: dt.datetime | None) -> dt.datetime:
    return now if now is not None else timezone.now()


def refuse_if(message: str | None) -> None:
    """Raise NotAllowed with the refusal from a registry.rules.permissions check, if any."""
    if message is not None:
        raise NotAllowed(message)


def lock_path(path_id: Any) -> AccessPath:
    """The path's current row, locked until the transaction ends.

    Every transition on a path starts here, so two concurrent transitions queue and the
    second sees the first's outcome (and is refused with the right reason) instead of
    deciding on a stale read.
    """
    hold_writer_lock()  # before any row lock: runtime/writer_lock.py says why
    return (
        AccessPath.objects.select_for_update(of=("self",))
        .select_related("owner_team")
        .get(pk=path_id)
    )


def check_version(path: AccessPath, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != path.version:
        raise StaleVersion(
            errors.STALE_VERSION.format(expected=expected_version, actual=path.version)
        )


def acting_person(actor: Actor) -> Any:
    """The person acting (a User); tokens and the system are refused where a change
    must be a person's own (the model field is not nullable)."""
    if actor.user is None:
        raise NotAllowed(errors.HUMAN_REQUIRED)
    return actor.user


def owning_team(path: AccessPath) -> Team:
    """The path's owner, for actions whose precondition (rules/preconditions.py) is an
    owned path: typed, and refused again should the precondition be skipped."""
    if path.owner_team is None:
        raise InvalidTransition(errors.PATH_NOT_OWNED)
    return path.owner_team


def refuse_transition(message: str | None) -> None:
    """Raise InvalidTransition with the refusal from a registry.rules.preconditions
    check, if any."""
    if message is not None:
        raise InvalidTransition(message)


def save_path(path: AccessPath, changes: Mapping[str, Any], *, now: dt.datetime) -> dict:
    """Write `changes` by compare-and-set on the version; return the audit diff.

    The row is normally locked already; the version condition is what makes a write
    based on a stale read fail rather than overwrite (house rule 3).
    """
    before = {key: getattr(path, key) for key in changes}
    values = {**changes, "version": path.version + 1, "updated_at": now}
    updated = AccessPath.objects.filter(pk=path.pk, version=path.version).update(**values)
    if updated != 1:
        raise InvalidTransition(errors.PATH_CHANGED_CONCURRENTLY)
    for key, value in values.items():
        setattr(path, key, value)
    former_id = before.get("external_id")
    refresh_facts([path.pk], now=now, external_ids=[former_id] if former_id else [])
    return diff(before, dict(changes))


def require_text(field: str, value: str | None) -> str:
    """A non-empty free-text value that holds no secret."""
    text = (value or "").strip()
    if not text:
        raise Invalid.single(field, errors.REQUIRED)
    if found := secret_errors({field: text}):
        raise Invalid(found)
    return text


def require_specific(field: str, value: str | None, policy: Policy) -> str:
    """Like require_text, and specific enough to explain itself (no placeholders)."""
    text = require_text(field, value)
    if message := justification_error(text, policy):
        raise Invalid.single(field, message)
    return text


def check_expiry(
    field: str, value: dt.datetime | None, *, now: dt.datetime, max_days: int, message: str
) -> None:
    if value is None:
        return
    if value <= now:
        raise Invalid.single(field, errors.EXPIRY_IN_PAST)
    if value > now + dt.timedelta(days=max_days):
        raise Invalid.single(field, message.format(days=max_days))


def model_field_errors(instance: models.Model, fields: Iterable[str]) -> dict[str, list[str]]:
    """Django's own field validation (choices, lengths, URLs) for the given fields.
    A relation set to a loaded object is skipped: Django would query for the row it was
    loaded from (one query per path in a bulk import)."""
    loaded = instance._state.fields_cache
    fields = {f for f in fields if f not in loaded or loaded[f] is None}
    exclude = [f.name for f in instance._meta.fields if f.name not in fields]
    try:
        instance.clean_fields(exclude=exclude)
    except ValidationError as exc:
        return {key: [str(m) for m in messages] for key, messages in exc.message_dict.items()}
    return {}


def reject_claim(
    claim: Claim, *, path: AccessPath, actor: Actor, now: dt.datetime, why: str
) -> None:
    """Close a pending claim as rejected because of `why` (the caller holds the path's
    lock). When it was the path's last pending claim, the path is unowned again; one
    audit event records both."""
    Claim.objects.filter(pk=claim.pk, status=Claim.Status.PENDING).update(
        status=Claim.Status.REJECTED, decided_by=actor.user, decided_at=now, decision_reason=why
    )
    changes = {"status": [Claim.Status.PENDING, Claim.Status.REJECTED]}
    others = Claim.objects.filter(path=path, status=Claim.Status.PENDING).exists()
    if path.state == AccessPath.State.CLAIM_PENDING and not others:
        changes |= save_path(
            path, {"state": AccessPath.State.UNOWNED, "state_changed_at": now}, now=now
        )
    audit_record(
        actor=actor,
        action="claim.rejected",
        obj=claim,
        path=path,
        now=now,
        changes=changes,
        reason=why,
    )


def decline_transfer(
    transfer: Transfer, *, path: AccessPath, actor: Actor, now: dt.datetime, why: str
) -> None:
    Transfer.objects.filter(pk=transfer.pk, status=Transfer.Status.PENDING).update(
        status=Transfer.Status.DECLINED,
        decided_by=actor.user,
        decided_at=now,
        decision_reason=why,
    )
    audit_record(
        actor=actor,
        action="transfer.declined",
        obj=transfer,
        path=path,
        now=now,
        changes={"status": [Transfer.Status.PENDING, Transfer.Status.DECLINED]},
        reason=why,
    )


def close_open_requests(path: AccessPath, *, actor: Actor, now: dt.datetime, why: str) -> None:
    """A revoked or expired path can no longer be claimed or handed over."""
    for claim in Claim.objects.select_for_update().filter(path=path, status=Claim.Status.PENDING):
        reject_claim(claim, path=path, actor=actor, now=now, why=why)
    pending = Transfer.objects.select_for_update().filter(path=path, status=Transfer.Status.PENDING)
    for transfer in pending:
        decline_transfer(transfer, path=path, actor=actor, now=now, why=why)


# The expiry a source reports (a discovery import) is a fact about a credential that
# exists, not a request: inside `source_stated_expiry()` the max_expiry_days cap does
# not refuse it, and posture flags it instead (NHI7 long-lived).
_SOURCE_STATED_EXPIRY: ContextVar[bool] = ContextVar("source_stated_expiry", default=False)


@contextmanager
def source_stated_expiry() -> Iterator[None]:
    """Record expiries as the source states them, however far ahead (imports from a
    source's export; never what a person asks for)."""
    token = _SOURCE_STATED_EXPIRY.set(True)
    try:
        yield
    finally:
        _SOURCE_STATED_EXPIRY.reset(token)


def expiry_is_source_stated() -> bool:
    return _SOURCE_STATED_EXPIRY.get()


# An import records what a source or an older inventory holds, as it is: a pipeline-made
# path without its provenance is recorded (posture MISSING_PROVENANCE flags it), never
# refused, and its owner is what the row says.
_IMPORTING: ContextVar[bool] = ContextVar("importing", default=False)


@contextmanager
def importing() -> Iterator[None]:
    """Record paths as an import found them (services/imports.py)."""
    token = _IMPORTING.set(True)
    try:
        yield
    finally:
        _IMPORTING.reset(token)


def is_importing() -> bool:
    return _IMPORTING.get()


# --- batches: how the sweep's steps walk their rows ---------------------------------

BATCH = 500


def in_batches(qs: QuerySet, fields: tuple[str, ...]) -> Iterator[list[dict]]:
    """Read-only rows in id order, in batches, from one execution of the query: a
    server-side cursor on PostgreSQL (held across the caller's transactions, so memory
    stays flat), chunked fetches on SQLite. A keyset page per batch ran the query again
    for every page, and a condition no index orders (an anti-join on the outbox) read
    the whole paths table each time: at a million paths, 160 pages of 2 to 8 s."""
    rows = qs.order_by("id").values(*fields)
    # Planned for every row: the id order matched the primary key, and a plan for the
    # first few walked the whole table in that order (runtime/cursor_plan.py).
    yield from batched(planned_for_every_row(rows.iterator(chunk_size=BATCH), rows.db), BATCH)


def claimed_batches(qs: QuerySet, fields: tuple[str, ...]) -> Iterator[list[dict]]:
    """Rows to change, claimed in batches: each batch is locked (skipping rows another
    worker holds: they are that worker's to do) inside its own transaction, in which the
    caller's loop body runs and commits."""
    last = None
    while True:
        with transaction.atomic():
            if qs.model is AccessPath:
                hold_writer_lock()  # before any row lock: runtime/writer_lock.py says why
            page = qs.select_for_update(skip_locked=True, of=("self",)).order_by("id")
            if last is not None:
                page = page.filter(id__gt=last)
            rows = list(page.values(*fields)[:BATCH])
            if not rows:
                return
            yield rows
        last = rows[-1]["id"]
