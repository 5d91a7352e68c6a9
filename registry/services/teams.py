"""Teams and memberships. Deactivating a team (or emptying it) makes its paths lapse."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction

from registry.audit import audit_record, diff
from registry.models import Claim, Membership, Team, Transfer
from registry.rules import errors, permissions
from registry.rules.actors import Actor
from registry.rules.errors import Invalid, InvalidTransition
from registry.rules.validation import merge_errors, secret_errors
from registry.runtime.writer_lock import hold_writer_lock
from registry.services._common import (
    decline_transfer,
    lock_path,
    model_field_errors,
    refuse_if,
    reject_claim,
    require_text,
    resolve_now,
)
from registry.services.tallies import refresh_team_facts

CHANNEL_FIELDS = frozenset(
    {"email", "slack_webhook_url", "teams_webhook_url", "event_webhook_url", "event_webhook_secret"}
)
TEAM_FIELDS = frozenset({"slug", "name", "kind", "parent"}) | CHANNEL_FIELDS
# Leads may edit their team's contact details; its slug and kind shape permissions
# (a "security" team reviews everything), so only security changes those.
LEAD_EDITABLE_FIELDS = frozenset({"name"}) | CHANNEL_FIELDS


# Chat webhook URLs embed their own credential and the event secret is one: the audit
# log records that they changed and where they point, never their value.
REDACTED_FIELDS = frozenset(
    {"slack_webhook_url", "teams_webhook_url", "event_webhook_url", "event_webhook_secret"}
)


def _redact(field: str, value: Any) -> Any:
    if field not in REDACTED_FIELDS or not value:
        return value
    if field == "event_webhook_secret":
        return "[set]"
    parts = urlsplit(str(value))
    return f"{parts.scheme}://{parts.hostname}/[redacted]"


def _redacted_diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict:
    return {
        field: [_redact(field, old), _redact(field, new)]
        for field, (old, new) in diff(before, after).items()
    }


def _fill_event_secret(team: Team) -> None:
    """An event webhook without a secret gets one, in the Standard Webhooks format."""
    if team.event_webhook_url and not team.event_webhook_secret:
        team.event_webhook_secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def _validate_team(team: Team, fields: set[str]) -> None:
    # Channel destinations are the one place the registry must hold a credential-bearing
    # value (a Slack webhook URL is its own secret) to deliver at all: they are checked
    # as URLs, never shown back in full, and audited redacted (REDACTED_FIELDS).
    values = {f: getattr(team, f) for f in fields if f != "parent" and f not in REDACTED_FIELDS}
    found = merge_errors(model_field_errors(team, fields), secret_errors(values))
    for url_field in ("slack_webhook_url", "teams_webhook_url", "event_webhook_url"):
        if (
            url_field in fields
            and getattr(team, url_field)
            and not _has_valid_port(getattr(team, url_field))
        ):
            found.setdefault(url_field, []).append(errors.WEBHOOK_URL_PORT)
    secret = team.event_webhook_secret
    if "event_webhook_secret" in fields and secret and not _is_webhook_secret(secret):
        found["event_webhook_secret"] = [errors.WEBHOOK_SECRET_FORMAT]
    if found:
        raise Invalid(found)


def _has_valid_port(url: str) -> bool:
    try:
        urlsplit(url).port  # noqa: B018 - raises ValueError outside 0-65535
    except ValueError:
        return False
    return True


def _is_webhook_secret(value: str) -> bool:
    if not value.startswith("whsec_"):
        return False
    try:
        return len(base64.b64decode(value.removeprefix("whsec_"), validate=True)) >= 16
    except ValueError:
        return False


@transaction.atomic
def team_create(*, actor: Actor, data: Mapping[str, Any], now: dt.datetime | None = None) -> Team:
    now = resolve_now(now)
    refuse_if(permissions.refuse_team_admin(actor))
    unknown = sorted(set(data) - TEAM_FIELDS)
    if unknown:
        raise Invalid({name: [errors.UNKNOWN_FIELD] for name in unknown})
    team = Team(**data, created_at=now, updated_at=now)
    _fill_event_secret(team)
    _validate_team(team, set(TEAM_FIELDS))
    if Team.objects.filter(slug=team.slug).exists():
        raise Invalid.single("slug", errors.SLUG_TAKEN)
    try:
        with transaction.atomic():
            team.save(force_insert=True)
    except IntegrityError as exc:
        raise Invalid.single("slug", errors.SLUG_TAKEN) from exc
    audit_record(
        actor=actor,
        action="team.created",
        obj=team,
        now=now,
        changes=_redacted_diff({}, {field: getattr(team, field) for field in sorted(data)}),
    )
    return team


@transaction.atomic
def team_update(
    *, actor: Actor, team: Team, changes: Mapping[str, Any], now: dt.datetime | None = None
) -> Team:
    now = resolve_now(now)
    hold_writer_lock()  # before any read or lock: runtime/writer_lock.py
    locked = Team.objects.select_for_update().get(pk=team.pk)
    refuse_if(permissions.refuse_team_manage(actor, locked))
    allowed = TEAM_FIELDS if permissions.refuse_team_admin(actor) is None else LEAD_EDITABLE_FIELDS
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise Invalid({name: [errors.UNKNOWN_FIELD] for name in unknown})
    candidate = copy.copy(locked)
    for field, value in changes.items():
        setattr(candidate, field, value)
    _fill_event_secret(candidate)
    changed = {f for f in TEAM_FIELDS if getattr(locked, f) != getattr(candidate, f)}
    if not changed:
        return locked
    _validate_team(candidate, changed)
    if (
        "slug" in changed
        and Team.objects.filter(slug=candidate.slug).exclude(pk=locked.pk).exists()
    ):
        raise Invalid.single("slug", errors.SLUG_TAKEN)
    if "parent" in changed and _creates_cycle(locked, candidate.parent):
        raise Invalid.single("parent", errors.TEAM_PARENT_CYCLE)
    after = {f: getattr(candidate, f) for f in changed}
    change_log = _redacted_diff({f: getattr(locked, f) for f in changed}, after)
    Team.objects.filter(pk=locked.pk).update(**after, updated_at=now)
    locked.refresh_from_db()
    audit_record(actor=actor, action="team.updated", obj=locked, now=now, changes=change_log)
    return locked


def _creates_cycle(team: Team, parent: Team | None) -> bool:
    """Whether making `parent` the parent of `team` would close a loop."""
    seen: set[int] = set()
    while parent is not None and parent.pk not in seen:
        if parent.pk == team.pk:
            return True
        seen.add(parent.pk)
        parent = parent.parent
    return False


def _set_active(actor: Actor, team: Team, active: bool, reason: str, now: dt.datetime) -> Team:
    hold_writer_lock()  # before any read or lock: runtime/writer_lock.py
    refuse_if(permissions.refuse_team_admin(actor))
    reason = require_text("reason", reason)
    # Compare-and-set: of two concurrent deactivations exactly one changes the row.
    updated = Team.objects.filter(pk=team.pk, is_active=not active).update(
        is_active=active, updated_at=now
    )
    if updated != 1:
        raise InvalidTransition(
            errors.TEAM_ALREADY_ACTIVE if active else errors.TEAM_ALREADY_INACTIVE
        )
    team.refresh_from_db()
    refresh_team_facts([team.pk], now=now)  # NHI1: its paths lapse, or stop lapsing
    audit_record(
        actor=actor,
        action="team.reactivated" if active else "team.deactivated",
        obj=team,
        now=now,
        changes={"is_active": [not active, active]},
        reason=reason,
    )
    if not active:
        _close_requests_involving(team, actor=actor, now=now)
    return team


def _close_requests_involving(team: Team, *, actor: Actor, now: dt.datetime) -> None:
    """An inactive team can answer nothing: decline the transfers offered to it and
    reject its pending claims, so no path stays blocked waiting for it."""
    why = f"The team {team.slug} was deactivated."
    for transfer in Transfer.objects.filter(to_team=team, status=Transfer.Status.PENDING):
        path = lock_path(transfer.path_id)  # path first: the services' lock order
        decline_transfer(transfer, path=path, actor=actor, now=now, why=why)
    for claim in Claim.objects.filter(team=team, status=Claim.Status.PENDING):
        path = lock_path(claim.path_id)
        reject_claim(claim, path=path, actor=actor, now=now, why=why)


@transaction.atomic
def team_deactivate(
    *, actor: Actor, team: Team, reason: str, now: dt.datetime | None = None
) -> Team:
    """Offboard a team. Its paths become lapsed at once (NHI1 improper offboarding)."""
    return _set_active(actor, team, False, reason, resolve_now(now))


@transaction.atomic
def team_reactivate(
    *, actor: Actor, team: Team, reason: str, now: dt.datetime | None = None
) -> Team:
    return _set_active(actor, team, True, reason, resolve_now(now))


@transaction.atomic
def membership_add(
    *,
    actor: Actor,
    team: Team,
    user: User,
    role: str = Membership.Role.MEMBER,
    now: dt.datetime | None = None,
) -> Membership:
    now = resolve_now(now)
    refuse_if(permissions.refuse_team_manage(actor, team))
    if role not in Membership.Role.values:
        raise Invalid.single("role", f"Choose one of: {', '.join(Membership.Role.values)}.")
    # Before reading whether the team is empty: two concurrent changes of its last
    # members must see each other's outcome (runtime/writer_lock.py).
    hold_writer_lock()
    if Membership.objects.filter(team=team, user=user, ended_at__isnull=True).exists():
        raise InvalidTransition(errors.ALREADY_MEMBER)
    was_empty = not _has_members(team.pk)
    try:
        with transaction.atomic():
            membership = Membership.objects.create(team=team, user=user, role=role, started_at=now)
    except IntegrityError as exc:
        raise InvalidTransition(errors.ALREADY_MEMBER) from exc
    if was_empty:  # NHI1: somebody answers for its paths again
        refresh_team_facts([team.pk], now=now)
    audit_record(
        actor=actor,
        action="membership.added",
        obj=membership,
        now=now,
        changes={
            "team": [None, team.slug],
            "user": [None, user.get_username()],
            "role": [None, role],
        },
    )
    actor.invalidate()
    return membership


def _has_members(team_id: int) -> bool:
    return Membership.objects.filter(team_id=team_id, ended_at__isnull=True).exists()


def _lock_current_membership(membership: Membership) -> Membership:
    locked = (
        Membership.objects.select_for_update(of=("self",))
        .select_related("team", "user")
        .get(pk=membership.pk)
    )
    if locked.ended_at is not None:
        raise InvalidTransition(errors.MEMBERSHIP_ENDED)
    return locked


@transaction.atomic
def membership_set_role(
    *, actor: Actor, membership: Membership, role: str, now: dt.datetime | None = None
) -> Membership:
    now = resolve_now(now)
    refuse_if(permissions.refuse_team_manage(actor, membership.team))
    if role not in Membership.Role.values:
        raise Invalid.single("role", f"Choose one of: {', '.join(Membership.Role.values)}.")
    locked = _lock_current_membership(membership)
    if locked.role == role:
        return locked
    Membership.objects.filter(pk=locked.pk).update(role=role)
    audit_record(
        actor=actor,
        action="membership.role_changed",
        obj=locked,
        now=now,
        changes={"role": [locked.role, role]},
    )
    locked.role = role
    actor.invalidate()
    return locked


@transaction.atomic
def membership_end(
    *, actor: Actor, membership: Membership, reason: str, now: dt.datetime | None = None
) -> Membership:
    """Remove someone from a team (or leave it). The row stays, with its end date.
    A team left with nobody makes its paths lapse."""
    now = resolve_now(now)
    leaving = actor.user is not None and actor.user.pk == membership.user_id
    if not leaving:
        refuse_if(permissions.refuse_team_manage(actor, membership.team))
    reason = require_text("reason", reason)
    hold_writer_lock()  # before any read or lock: runtime/writer_lock.py
    locked = _lock_current_membership(membership)
    Membership.objects.filter(pk=locked.pk, ended_at__isnull=True).update(ended_at=now)
    locked.ended_at = now
    if not _has_members(locked.team_id):  # NHI1: nobody answers for its paths any more
        refresh_team_facts([locked.team_id], now=now)
    audit_record(
        actor=actor,
        action="membership.ended",
        obj=locked,
        now=now,
        changes={"ended_at": [None, now]},
        reason=reason,
    )
    actor.invalidate()
    return locked
