"""Teams and memberships. Deactivating a team (or emptying it) makes its paths lapse."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction

from registry import errors, permissions
from registry.actors import Actor
from registry.audit import audit_record, diff
from registry.errors import Invalid, InvalidTransition
from registry.models import Membership, Team
from registry.services._common import model_field_errors, refuse_if, require_text, resolve_now
from registry.validation import merge_errors, secret_errors

TEAM_FIELDS = frozenset({"slug", "name", "kind", "email", "chat_webhook_url", "parent"})
# Leads may edit their team's contact details; its slug and kind shape permissions
# (a "security" team reviews everything), so only security changes those.
LEAD_EDITABLE_FIELDS = frozenset({"name", "email", "chat_webhook_url"})


def _validate_team(team: Team, fields: set[str]) -> None:
    values = {field: getattr(team, field) for field in fields if field != "parent"}
    found = merge_errors(model_field_errors(team, fields), secret_errors(values))
    if found:
        raise Invalid(found)


@transaction.atomic
def team_create(*, actor: Actor, data: Mapping[str, Any], now: dt.datetime | None = None) -> Team:
    now = resolve_now(now)
    refuse_if(permissions.refuse_team_admin(actor))
    unknown = sorted(set(data) - TEAM_FIELDS)
    if unknown:
        raise Invalid({name: [errors.UNKNOWN_FIELD] for name in unknown})
    team = Team(**data, created_at=now, updated_at=now)
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
        changes={field: [None, getattr(team, field)] for field in sorted(data)},
    )
    return team


@transaction.atomic
def team_update(
    *, actor: Actor, team: Team, changes: Mapping[str, Any], now: dt.datetime | None = None
) -> Team:
    now = resolve_now(now)
    locked = Team.objects.select_for_update().get(pk=team.pk)
    refuse_if(permissions.refuse_team_manage(actor, locked))
    allowed = TEAM_FIELDS if permissions.refuse_team_admin(actor) is None else LEAD_EDITABLE_FIELDS
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise Invalid({name: [errors.UNKNOWN_FIELD] for name in unknown})
    candidate = copy.copy(locked)
    for field, value in changes.items():
        setattr(candidate, field, value)
    changed = {f for f, v in changes.items() if getattr(locked, f) != v}
    if not changed:
        return locked
    _validate_team(candidate, changed)
    change_log = diff({f: getattr(locked, f) for f in changed}, {f: changes[f] for f in changed})
    Team.objects.filter(pk=locked.pk).update(**{f: changes[f] for f in changed}, updated_at=now)
    locked.refresh_from_db()
    audit_record(actor=actor, action="team.updated", obj=locked, now=now, changes=change_log)
    return locked


def _set_active(actor: Actor, team: Team, active: bool, reason: str, now: dt.datetime) -> Team:
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
    audit_record(
        actor=actor,
        action="team.reactivated" if active else "team.deactivated",
        obj=team,
        now=now,
        changes={"is_active": [not active, active]},
        reason=reason,
    )
    return team


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
    user: AbstractBaseUser,
    role: str = Membership.Role.MEMBER,
    now: dt.datetime | None = None,
) -> Membership:
    now = resolve_now(now)
    refuse_if(permissions.refuse_team_manage(actor, team))
    if role not in Membership.Role.values:
        raise Invalid.single("role", f"Choose one of: {', '.join(Membership.Role.values)}.")
    if Membership.objects.filter(team=team, user=user, ended_at__isnull=True).exists():
        raise InvalidTransition(errors.ALREADY_MEMBER)
    try:
        with transaction.atomic():
            membership = Membership.objects.create(team=team, user=user, role=role, started_at=now)
    except IntegrityError as exc:
        raise InvalidTransition(errors.ALREADY_MEMBER) from exc
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
    locked = _lock_current_membership(membership)
    Membership.objects.filter(pk=locked.pk, ended_at__isnull=True).update(ended_at=now)
    locked.ended_at = now
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
