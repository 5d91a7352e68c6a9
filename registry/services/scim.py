"""SCIM 2.0 provisioning (RFC 7643/7644) mapped onto people, teams and memberships.

A SCIM User is a Django user; a SCIM Group is a team; group membership is a current
Membership (role member: a lead stays a lead, the identity provider never demotes nor
promotes). Every membership and team change goes through registry.services.teams, so
it is audited and lapses or revives the team's paths exactly as a person's change
would. What SCIM adds (user records, external ids) is audited here.

Offboarding (OWASP NHI1): a user deactivated or deleted loses every membership in the
same transaction; a group deleted or emptied deactivates its team, so its paths read
lapsed at once (rules/status.owner_unaccountable_q) and the sweep's offboarding step
tells security and the steward (Reason.OWNER_UNACCOUNTABLE). Teams of a protected kind
(security, iam, pam) are never deactivated by provisioning, as with directory imports.

The registry's own governance is out of SCIM's reach (refuse_governance below): the
security, iam and pam teams, and every person who is staff, superuser or a current
member of one of them, are managed in the registry by hand. A SCIM token stands for an
identity provider that may be misconfigured or compromised; if it could add itself a
security member, or empty the security team, it would own every review.

The HTTP layer (scim/) parses requests into UserState/GroupState and calls these.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.text import slugify

from registry.audit import audit_record
from registry.models import AccessPath, Membership, ScimGroup, ScimToken, ScimUser, Team
from registry.rules import errors, permissions, token_format
from registry.rules.actors import Actor
from registry.rules.errors import Invalid, InvalidTransition, NotAllowed
from registry.rules.status import is_live
from registry.rules.validation import secret_errors
from registry.runtime.writer_lock import hold_writer_lock
from registry.selectors.scim import SCIM_ACTOR_PREFIX, group_display_name, teams_named
from registry.services._common import lock_path, refuse_if, require_text, resolve_now
from registry.services.paths import path_register
from registry.services.team_sync import PROTECTED_KINDS
from registry.services.teams import (
    membership_add,
    membership_end,
    team_create,
    team_deactivate,
    team_reactivate,
    team_update,
)
from registry.services.tokens import (
    LAST_USED_RESOLUTION,
    MAX_TOKEN_DAYS,
    REGISTRY_SYSTEM,
    stop_token,
)

USER_NAME_TAKEN = "A user with this userName already exists."
GROUP_NAME_TAKEN = "A group with this displayName already exists."
UNKNOWN_MEMBER = "No user with id {value!r}."
INVALID_EMAIL = "Enter a valid email address."
INVALID_USER_NAME = "Use at most 150 letters, digits and @ . + - _ characters (no spaces)."
PROTECTED_GROUP = (
    "The {slug} team governs the registry: its name and members are managed in the "
    "registry, not by SCIM (read-only here)."
)
PROTECTED_USER = (
    "This user governs the registry ({why}): they are managed in the registry, not by "
    "SCIM (read-only here)."
)
USER_DEPROVISIONED = "Deprovisioned by the identity provider (SCIM)."
GROUP_EMPTIED = "Its group was emptied in the identity provider (SCIM)."
GROUP_DELETED = "Its group was deleted in the identity provider (SCIM)."
REMOVED_FROM_GROUP = "Removed from the group in the identity provider (SCIM)."
GROUP_REFILLED = "Its group has members again in the identity provider (SCIM)."


class Conflict(InvalidTransition):
    """A uniqueness clash (SCIM scimType uniqueness, 409)."""


def scim_write_lock() -> None:
    """Taken by a SCIM PUT/PATCH/DELETE before it reads the resource it changes. A
    PATCH is applied to what was read and written back as a whole (members exactly
    these), so two PATCHes must not read the same members: "add A" and "add B" at once
    would leave only one. The team services queue on the writers' lock, so taking it
    before the read makes the second request read what the first committed."""
    hold_writer_lock()


def refuse_governance(*, team: Team | None = None, user: User | None = None) -> None:
    """The one rule for what SCIM may not touch (403, nothing changed): a team of a
    protected kind, and a person who is staff, superuser or a current member of such a
    team. Checked on the locked rows, before any change."""
    if team is not None and team.kind in PROTECTED_KINDS:
        raise NotAllowed(PROTECTED_GROUP.format(slug=team.slug))
    if user is None:
        return
    why = "superuser" if user.is_superuser else "staff" if user.is_staff else ""
    if not why:
        governing = (
            Membership.objects.filter(
                user=user, ended_at__isnull=True, team__kind__in=PROTECTED_KINDS
            )
            .order_by("team__slug")
            .values_list("team__slug", flat=True)
            .first()
        )
        why = f"a member of {governing}" if governing else ""
    if why:
        raise NotAllowed(PROTECTED_USER.format(why=why))


@dataclass(frozen=True)
class UserState:
    """Everything SCIM says about a user; a PUT states all of it, a PATCH is applied to
    the current state first."""

    user_name: str
    given_name: str = ""
    family_name: str = ""
    email: str = ""
    active: bool = True
    external_id: str = ""


@dataclass(frozen=True)
class GroupState:
    display_name: str
    external_id: str = ""
    member_ids: frozenset[int] = frozenset()


def scim_actor(token: ScimToken) -> Actor:
    """Who acts for a SCIM request. The identity provider is the directory speaking, as
    a directory import does (Actor.system("import_teams")): the team services let the
    system manage any team. The label names the token, so the audit trail says which
    provider did what."""
    return Actor(
        kind=Actor.system().kind,
        label=f"{SCIM_ACTOR_PREFIX}{token.name} ({token.prefix}…)",
        token_id=token.prefix,
    )


# --- tokens ---------------------------------------------------------------------------


@transaction.atomic
def scim_token_create(
    *,
    actor: Actor,
    name: str,
    team: Team,
    expires_in_days: int = 365,
    now: dt.datetime | None = None,
) -> tuple[ScimToken, str]:
    """Issue the token an identity provider's SCIM client presents. Only security (or
    the system) issues one: it adds and removes anyone in any team. Returns the record
    and the token, which is never available again."""
    now = resolve_now(now)
    refuse_if(permissions.refuse_team_admin(actor))
    name = require_text("name", name)
    if not 1 <= expires_in_days <= MAX_TOKEN_DAYS:
        raise Invalid.single("expires_in_days", errors.TOKEN_LIFETIME.format(days=MAX_TOKEN_DAYS))
    if not team.is_active:
        raise Invalid.single("team", errors.TEAM_INACTIVE)
    secret = token_format.generate()
    prefix = token_format.display_prefix(secret)
    expires_at = now + dt.timedelta(days=expires_in_days)
    path = path_register(
        actor=actor if actor.is_system else Actor.system("token-issuer"),
        data={
            "name": f"NHI Registry SCIM token '{name}' ({prefix}…)",
            "kind": AccessPath.Kind.API_TOKEN,
            "system": REGISTRY_SYSTEM,
            "external_id": prefix,
            "environment": AccessPath.Environment.PROD,
            "owner_team": team,
            "approved_by": actor.label[:200],
            "approved_by_team": team,
            "created_via": AccessPath.CreatedVia.HUMAN,
            "created_by_ref": actor.label,
            "consumers": f"the identity provider's SCIM client '{name}'",
            "ticket_url": f"{settings.BASE_URL}/scim/v2/ServiceProviderConfig",
            "justification": (
                f"SCIM provisioning of users, teams and memberships by '{name}', "
                f"issued by {actor.label}."
            ),
            "privilege_scope": "NHI Registry SCIM: create, change and deactivate users, "
            "teams and every team's memberships",
            # It can empty any team, lapsing its paths: as much power as security's.
            "risk_tier": AccessPath.RiskTier.CRITICAL,
            "credential_lifetime": AccessPath.CredentialLifetime.LONG_LIVED,
            "rotation_days": expires_in_days,
            "last_rotated_at": now,
            "expires_at": expires_at,
            "revocation_plan": "Revoke this path (or the token with `manage.py "
            "revoke_scim_token`): provisioning stops at once; rotate in the identity "
            "provider's provisioning settings.",
        },
        now=now,
    )
    token = ScimToken.objects.create(
        name=name,
        prefix=prefix,
        token_hash=token_format.hash_token(secret),
        access_path=path,
        created_by_label=actor.label,
        created_by=actor.user,
        created_at=now,
        expires_at=expires_at,
    )
    audit_record(
        actor=actor,
        action="scim_token.created",
        obj=token,
        path=path,
        now=now,
        changes={"name": [None, name], "prefix": [None, prefix], "expires_at": [None, expires_at]},
    )
    return token, secret


@transaction.atomic
def scim_token_revoke(
    *, actor: Actor, token: ScimToken, reason: str, now: dt.datetime | None = None
) -> ScimToken:
    now = resolve_now(now)
    path = lock_path(token.access_path_id)
    refuse_if(permissions.refuse_team_admin(actor))
    stop_token(token, path=path, actor=actor, reason=reason, action="scim_token.revoked", now=now)
    return token


def scim_token_authenticate(raw: str, *, now: dt.datetime | None = None) -> ScimToken | None:
    """The live SCIM token for `raw`, or None: revoked, expired, or its access path no
    longer live (revoking the path stops the token)."""
    if not token_format.is_well_formed(raw):
        return None
    now = now or timezone.now()
    token = (
        ScimToken.objects.select_related("access_path")
        .filter(
            token_hash=token_format.hash_token(raw), revoked_at__isnull=True, expires_at__gt=now
        )
        .first()
    )
    if token is None or not is_live(token.access_path, now):
        return None
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ScimToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


# --- users ----------------------------------------------------------------------------


def _clean_user(state: UserState, *, exclude_pk: int | None) -> UserState:
    user_name = state.user_name.strip()
    found: dict[str, list[str]] = {}
    if not user_name:
        found["userName"] = [errors.REQUIRED]
    else:
        try:
            UnicodeUsernameValidator()(user_name)
            if len(user_name) > 150:
                raise ValidationError(INVALID_USER_NAME)
        except ValidationError:
            found["userName"] = [INVALID_USER_NAME]
    email = state.email.strip()
    if email:
        try:
            validate_email(email)
        except ValidationError:
            found["emails"] = [INVALID_EMAIL]
    texts = {
        "name.givenName": state.given_name,
        "name.familyName": state.family_name,
        "externalId": state.external_id,
        "userName": user_name,
    }
    for field, message in secret_errors(texts).items():
        found.setdefault(field, []).extend(message)
    if len(state.given_name) > 150 or len(state.family_name) > 150:
        found.setdefault("name", []).append("At most 150 characters.")
    if len(state.external_id) > 255:
        found.setdefault("externalId", []).append("At most 255 characters.")
    if found:
        raise Invalid(found)
    taken = User.objects.annotate(lower=Lower("username")).filter(lower=user_name.lower())
    if exclude_pk is not None:
        taken = taken.exclude(pk=exclude_pk)
    if taken.exists():
        raise Conflict(USER_NAME_TAKEN, field="userName")
    return UserState(
        user_name=user_name,
        given_name=state.given_name.strip(),
        family_name=state.family_name.strip(),
        email=email,
        active=state.active,
        external_id=state.external_id.strip(),
    )


def user_state(user: User) -> UserState:
    scim = ScimUser.objects.filter(user=user).first()
    return UserState(
        user_name=user.get_username(),
        given_name=user.first_name,
        family_name=user.last_name,
        email=user.email,
        active=user.is_active,
        external_id=scim.external_id if scim else "",
    )


def _user_fields(state: UserState) -> dict:
    return {
        "userName": state.user_name,
        "name.givenName": state.given_name,
        "name.familyName": state.family_name,
        "emails": state.email,
        "active": state.active,
        "externalId": state.external_id,
    }


@transaction.atomic
def scim_user_create(*, actor: Actor, state: UserState, now: dt.datetime | None = None) -> User:
    now = resolve_now(now)
    refuse_if(permissions.refuse_team_admin(actor))
    state = _clean_user(state, exclude_pk=None)
    # People provisioned by the identity provider sign in through it: no local password.
    user = User(
        username=state.user_name,
        first_name=state.given_name,
        last_name=state.family_name,
        email=state.email,
        is_active=state.active,
        date_joined=now,
    )
    user.set_unusable_password()
    user.save()
    ScimUser.objects.create(user=user, external_id=state.external_id, updated_at=now)
    audit_record(
        actor=actor,
        action="user.provisioned",
        obj=user,
        now=now,
        changes={field: [None, value] for field, value in _user_fields(state).items()},
    )
    return user


@transaction.atomic
def scim_user_replace(
    *, actor: Actor, user: User, state: UserState, now: dt.datetime | None = None
) -> User:
    """Bring a user in line with what the identity provider states. Turning `active`
    off ends every membership at once (offboarding); turning it on again gives none
    back: the provider's groups say where they belong."""
    now = resolve_now(now)
    refuse_if(permissions.refuse_team_admin(actor))
    user = User.objects.select_for_update().get(pk=user.pk)
    state = _clean_user(state, exclude_pk=user.pk)
    before = _user_fields(user_state(user))
    after = _user_fields(state)
    changes = {f: [before[f], after[f]] for f in after if before[f] != after[f]}
    if not changes:
        return user
    refuse_governance(user=user)
    user.username = state.user_name
    user.first_name = state.given_name
    user.last_name = state.family_name
    user.email = state.email
    user.is_active = state.active
    user.save(update_fields=["username", "first_name", "last_name", "email", "is_active"])
    ScimUser.objects.update_or_create(
        user=user, defaults={"external_id": state.external_id, "updated_at": now}
    )
    audit_record(actor=actor, action="user.updated", obj=user, now=now, changes=changes)
    if not state.active:
        _end_all_memberships(actor, user, now)
    return user


@transaction.atomic
def scim_user_delete(*, actor: Actor, user: User, now: dt.datetime | None = None) -> User:
    """SCIM DELETE: the person is deactivated and leaves every team; the row stays (and
    with it every audit event naming them), and SCIM answers 404 for it from now on."""
    now = resolve_now(now)
    refuse_if(permissions.refuse_team_admin(actor))
    user = User.objects.select_for_update().get(pk=user.pk)
    refuse_governance(user=user)
    was_active = user.is_active
    User.objects.filter(pk=user.pk).update(is_active=False)
    user.is_active = False
    ScimUser.objects.update_or_create(user=user, defaults={"deleted_at": now, "updated_at": now})
    audit_record(
        actor=actor,
        action="user.deprovisioned",
        obj=user,
        now=now,
        changes={"active": [was_active, False], "deleted": [False, True]},
        reason=USER_DEPROVISIONED,
    )
    _end_all_memberships(actor, user, now)
    return user


def _end_all_memberships(actor: Actor, user: User, now: dt.datetime) -> None:
    memberships = list(
        Membership.objects.filter(user=user, ended_at__isnull=True).select_related("team")
    )
    for membership in memberships:
        membership_end(actor=actor, membership=membership, reason=USER_DEPROVISIONED, now=now)
    for team in {m.team_id: m.team for m in memberships}.values():
        _deactivate_if_emptied(actor, team, GROUP_EMPTIED, now)


# --- groups ---------------------------------------------------------------------------


def _unique_slug(display_name: str) -> str:
    base = slugify(display_name)[:56] or "group"
    slug, n = base, 1
    while Team.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def _check_group(state: GroupState, *, exclude_pk: int | None) -> GroupState:
    name = state.display_name.strip()
    if not name:
        raise Invalid.single("displayName", errors.REQUIRED)
    if len(name) > 200:
        raise Invalid.single("displayName", "At most 200 characters.")
    if len(state.external_id) > 255:
        raise Invalid.single("externalId", "At most 255 characters.")
    if found := secret_errors({"displayName": name, "externalId": state.external_id}):
        raise Invalid(found)
    same_name = teams_named(name)
    if exclude_pk is not None:
        same_name = same_name.exclude(pk=exclude_pk)
    if same_name.exists():
        raise Conflict(GROUP_NAME_TAKEN, field="displayName")
    known = set(User.objects.filter(pk__in=state.member_ids).values_list("pk", flat=True))
    if missing := sorted(state.member_ids - known):
        raise Invalid.single("members", UNKNOWN_MEMBER.format(value=str(missing[0])))
    return GroupState(name, state.external_id.strip(), state.member_ids)


@transaction.atomic
def scim_group_create(*, actor: Actor, state: GroupState, now: dt.datetime | None = None) -> Team:
    """A new group is a new product team (security sets its kind if it is another)."""
    now = resolve_now(now)
    state = _check_group(state, exclude_pk=None)
    team = team_create(
        actor=actor,
        data={"slug": _unique_slug(state.display_name), "name": state.display_name},
        now=now,
    )
    ScimGroup.objects.create(team=team, external_id=state.external_id, updated_at=now)
    _set_members(actor, team, state.member_ids, now)
    return team


@transaction.atomic
def scim_group_replace(
    *, actor: Actor, team: Team, state: GroupState, now: dt.datetime | None = None
) -> Team:
    now = resolve_now(now)
    team = Team.objects.select_for_update().get(pk=team.pk)
    state = _check_group(state, exclude_pk=team.pk)
    if state == group_state(team):
        return team  # a provider reconciling what is already so: nothing to record
    refuse_governance(team=team)
    if state.display_name != group_display_name(team):
        team = team_update(actor=actor, team=team, changes={"name": state.display_name}, now=now)
    link, _ = ScimGroup.objects.get_or_create(team=team, defaults={"updated_at": now})
    if link.external_id != state.external_id:
        audit_record(
            actor=actor,
            action="team.scim_external_id_changed",
            obj=team,
            now=now,
            changes={"externalId": [link.external_id, state.external_id]},
        )
        ScimGroup.objects.filter(pk=link.pk).update(external_id=state.external_id, updated_at=now)
    _set_members(actor, team, state.member_ids, now)
    return team


@transaction.atomic
def scim_group_delete(*, actor: Actor, team: Team, now: dt.datetime | None = None) -> Team:
    """SCIM DELETE: its members leave and the team is deactivated (its paths lapse);
    the team and its history stay, and SCIM answers 404 for it from now on."""
    now = resolve_now(now)
    team = Team.objects.select_for_update().get(pk=team.pk)
    refuse_governance(team=team)
    for membership in Membership.objects.filter(team=team, ended_at__isnull=True):
        membership_end(actor=actor, membership=membership, reason=GROUP_DELETED, now=now)
    if team.is_active:
        team = team_deactivate(actor=actor, team=team, reason=GROUP_DELETED, now=now)
    ScimGroup.objects.update_or_create(team=team, defaults={"deleted_at": now, "updated_at": now})
    return team


def group_state(team: Team) -> GroupState:
    """What SCIM says about a team now: a request stating exactly this changes nothing."""
    link = ScimGroup.objects.filter(team=team).first()
    members = Membership.objects.filter(team=team, ended_at__isnull=True)
    return GroupState(
        display_name=group_display_name(team),
        external_id=link.external_id if link else "",
        member_ids=frozenset(members.values_list("user_id", flat=True)),
    )


def _set_members(actor: Actor, team: Team, wanted: frozenset[int], now: dt.datetime) -> None:
    """Make the team's current members exactly `wanted` (user ids). Existing members
    keep their role; newcomers join as members."""
    current = {m.user_id: m for m in Membership.objects.filter(team=team, ended_at__isnull=True)}
    gone = [m for user_id, m in current.items() if user_id not in wanted]
    for membership in gone:
        membership_end(actor=actor, membership=membership, reason=REMOVED_FROM_GROUP, now=now)
    arriving = User.objects.filter(pk__in=wanted - set(current)).order_by("pk")
    if arriving:
        _revive_if_emptied_by_scim(actor, team, now)
    for user in arriving:
        membership_add(actor=actor, team=team, user=user, now=now)
    if gone and not wanted:
        _deactivate_if_emptied(actor, team, GROUP_EMPTIED, now)


def _deactivate_if_emptied(actor: Actor, team: Team, reason: str, now: dt.datetime) -> None:
    """An emptied group's team goes inactive at once (NHI1), remembering that SCIM did it."""
    team.refresh_from_db(fields=["is_active", "kind"])
    if not team.is_active or team.kind in PROTECTED_KINDS:
        return
    if Membership.objects.filter(team=team, ended_at__isnull=True).exists():
        return
    team_deactivate(actor=actor, team=team, reason=reason, now=now)
    ScimGroup.objects.update_or_create(
        team=team, defaults={"deactivated_by_scim": True, "updated_at": now}
    )


def _revive_if_emptied_by_scim(actor: Actor, team: Team, now: dt.datetime) -> None:
    """Members pushed to a group SCIM emptied bring its team back; a team security
    deactivated stays inactive (its memberships are still recorded)."""
    team.refresh_from_db(fields=["is_active"])
    if team.is_active:
        return
    if ScimGroup.objects.filter(
        team=team, deactivated_by_scim=True, deleted_at__isnull=True
    ).exists():
        team_reactivate(actor=actor, team=team, reason=GROUP_REFILLED, now=now)
        ScimGroup.objects.filter(team=team).update(deactivated_by_scim=False, updated_at=now)
