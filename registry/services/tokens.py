"""API tokens: issue (shown once), use, revoke. Each token is also an access path."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from registry.audit import audit_record
from registry.models import AccessPath, ApiToken, AuditEvent, Team
from registry.rules import errors, permissions, token_format
from registry.rules.actors import Actor
from registry.rules.errors import Invalid, InvalidTransition
from registry.rules.status import is_live
from registry.runtime.writer_lock import hold_writer_lock
from registry.services._common import lock_path, refuse_if, require_text, resolve_now
from registry.services.path_retirement import revoke_locked
from registry.services.paths import path_register

MAX_TOKEN_DAYS = 365
# A token that was used within this long is not written to again on each request.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)
# The `system` under which the registry registers its own tokens as access paths.
REGISTRY_SYSTEM = "nhi-registry"
TOKEN_ALREADY_CREATED = (
    "This token was already created; its secret was shown once. Revoke it and create a "  # noqa: S105 - a message
    "new one if you did not copy it."
)


class TokenAlreadyCreated(InvalidTransition):
    """The form with this one-time key already created its token (a page reloaded)."""


def _owner_team_for(user: User, team: Team | None) -> Team:
    teams = Team.objects.filter(
        memberships__user=user, memberships__ended_at__isnull=True, is_active=True
    ).order_by("slug")
    if team is not None:
        if not teams.filter(pk=team.pk).exists():
            raise Invalid.single("team", errors.NOT_A_MEMBER_OF_TEAM)
        return team
    first = teams.first()
    if first is None:
        raise Invalid.single("user", errors.OUTSIDER)
    return first


def _check_request(name: str, scopes: list[str], expires_in_days: int) -> list[str]:
    require_text("name", name)
    if not scopes or not set(scopes) <= set(ApiToken.Scope.values):
        raise Invalid.single("scopes", errors.TOKEN_SCOPES)
    if not 1 <= expires_in_days <= MAX_TOKEN_DAYS:
        raise Invalid.single("expires_in_days", errors.TOKEN_LIFETIME.format(days=MAX_TOKEN_DAYS))
    return sorted(set(scopes))


@transaction.atomic
def token_create(
    *,
    actor: Actor,
    name: str,
    scopes: list[str],
    expires_in_days: int = 90,
    team: Team | None = None,
    user: User | None = None,
    once: str = "",
    now: dt.datetime | None = None,
) -> tuple[ApiToken, str]:
    """Issue a team token (`team`) or a personal token (`user`, owned by one of the
    user's teams). Returns the record and the token, which is never available again.
    `once`: the one-time key of the form that asked (web/forms.py TokenCreateForm); a
    key that already created a token of this team creates nothing."""
    now = resolve_now(now)
    scopes = _check_request(name, scopes, expires_in_days)
    if user is not None:
        refuse_if(permissions.refuse_personal_token(actor, user))
        owner = _owner_team_for(user, team)
    elif team is not None:
        refuse_if(permissions.refuse_team_manage(actor, team))
        owner = team
    else:
        raise Invalid.single("team", errors.REQUIRED)
    if not owner.is_active:
        raise Invalid.single("team", errors.TEAM_INACTIVE)
    if once:
        _refuse_used_key(owner, once)

    secret = token_format.generate()
    prefix = token_format.display_prefix(secret)
    expires_at = now + dt.timedelta(days=expires_in_days)
    holder = user.get_username() if user is not None else f"the {owner.slug} team's integration"
    path = path_register(
        actor=actor if not actor.is_integration else Actor.system("token-issuer"),
        data={
            "name": f"NHI Registry API token '{name}' ({prefix}…)",
            "kind": AccessPath.Kind.API_TOKEN,
            "system": REGISTRY_SYSTEM,
            "external_id": prefix,
            "environment": AccessPath.Environment.PROD,
            "owner_team": owner,
            # Whoever issues the token approves the access it grants, for its team.
            "approved_by": actor.label[:200],
            "approved_by_team": owner,
            "created_via": AccessPath.CreatedVia.HUMAN,
            "created_by_ref": actor.label,
            "consumers": holder,
            "ticket_url": f"{settings.BASE_URL}/api/v1/me/",
            "justification": (
                f"Registry API access ({', '.join(scopes)}) for {holder}, issued by {actor.label}."
            ),
            "privilege_scope": f"NHI Registry API: {', '.join(scopes)} as {holder}",
            "risk_tier": (
                AccessPath.RiskTier.HIGH if "write" in scopes else AccessPath.RiskTier.MEDIUM
            ),
            "credential_lifetime": AccessPath.CredentialLifetime.LONG_LIVED,
            "rotation_days": expires_in_days,
            "last_rotated_at": now,
            "expires_at": expires_at,
            "revocation_plan": "Revoke the token in NHI Registry (or revoke this path): "
            "it stops working at once.",
        },
        now=now,
    )
    token = ApiToken.objects.create(
        name=name.strip(),
        prefix=prefix,
        token_hash=token_format.hash_token(secret),
        team=owner if user is None else None,
        user=user,
        scopes=scopes,
        expires_at=expires_at,
        access_path=path,
        created_by_label=actor.label,
        created_by=actor.user,
        created_at=now,
    )
    audit_record(
        actor=actor,
        action="api_token.created",
        obj=token,
        path=path,
        now=now,
        changes={
            "name": [None, token.name],
            "prefix": [None, prefix],
            "holder": [None, holder],
            "scopes": [None, scopes],
            "expires_at": [None, expires_at],
        }
        # The form's key is kept with the creation it caused, in the same transaction:
        # it is how a second sending of that form is recognised, and the registry keeps
        # no other trace of it (never the token itself).
        | ({"form_key": [None, once]} if once else {}),
    )
    return token, secret


def _refuse_used_key(team: Team, once: str) -> None:
    # The writers' lock first: a reload sent while the first request is still running
    # waits for it, then sees its audit event and is refused.
    hold_writer_lock()
    token_ids = [str(pk) for pk in ApiToken.objects.filter(team=team).values_list("pk", flat=True)]
    created = AuditEvent.objects.filter(
        action="api_token.created", object_type="apitoken", object_id__in=token_ids
    ).values_list("changes", flat=True)
    if any(changes.get("form_key") == [None, once] for changes in created):
        raise TokenAlreadyCreated(TOKEN_ALREADY_CREATED)


@transaction.atomic
def token_revoke(
    *, actor: Actor, token: ApiToken, reason: str, now: dt.datetime | None = None
) -> ApiToken:
    """Stop a token at once; its access path is revoked with it."""
    now = resolve_now(now)
    path = lock_path(token.access_path_id)
    refuse_if(permissions.refuse_token_revoke(actor, token))
    stop_token(token, path=path, actor=actor, reason=reason, action="api_token.revoked", now=now)
    return token


def stop_token(
    token: Any, *, path: AccessPath, actor: Actor, reason: str, action: str, now: dt.datetime
) -> None:
    """Revoke a token row (an API or SCIM token) once, compare-and-set, audit it as
    `action`, and revoke its access path with it. The caller has locked `path` and
    checked who may."""
    reason = require_text("reason", reason)
    updated = (
        type(token).objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=now)
    )
    if updated != 1:
        raise InvalidTransition(errors.TOKEN_REVOKED)
    token.refresh_from_db()
    audit_record(
        actor=actor,
        action=action,
        obj=token,
        path=path,
        now=now,
        changes={"revoked_at": [None, now]},
        reason=reason,
    )
    if path.state in (AccessPath.State.ACTIVE, AccessPath.State.UNOWNED):
        revoke_locked(path, actor=actor, reason=reason, now=now)


def token_authenticate(raw: str, *, now: dt.datetime | None = None) -> ApiToken | None:
    """The live token for `raw`, or None. A token stops working when it is revoked,
    expires, or its access path is revoked or expired (the registry governing its own
    credential). Records when it was last used, at most once a minute."""
    if not token_format.is_well_formed(raw):
        return None
    now = now or timezone.now()
    token = (
        ApiToken.objects.select_related("team", "user", "access_path")
        .filter(
            token_hash=token_format.hash_token(raw), revoked_at__isnull=True, expires_at__gt=now
        )
        .first()
    )
    if token is None or not is_live(token.access_path, now):
        return None
    if token.user is not None and not token.user.is_active:
        return None
    if token.team is not None and not token.team.is_active:
        return None
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
