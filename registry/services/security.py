"""Security events in the audit chain: sign-ins, account and group changes, refused
API tokens and refused requests (docs/SECURITY-EVENTS.md lists them all).

Each function writes exactly one audit event in its own transaction, which joins the
caller's when there is one (an admin change view, a user's save): the event commits
or rolls back with the change it describes. Callers pass plain facts (a source address,
a display prefix); nothing here reads a request, and nothing here ever receives a
password, a password hash or a whole token.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group, User
from django.core.exceptions import ValidationError
from django.db import models, transaction

from registry.audit import audit_record, no_such_object
from registry.models import AccessPath, ApiToken, AuditEvent
from registry.rules import token_format
from registry.rules.actors import Actor
from registry.rules.secret_scan import find_secret, redact
from registry.rules.status import is_live

# Actions
LOGIN = "auth.login"
LOGIN_FAILED = "auth.login_failed"
LOGIN_LOCKED_OUT = "auth.login_locked_out"
LOGOUT = "auth.logout"
PASSWORD_CHANGED = "auth.password_changed"  # noqa: S105 - an action name
USER_CREATED = "user.created"
USER_CHANGED = "user.changed"
USER_DELETED = "user.deleted"
USER_GROUPS_CHANGED = "user.groups_changed"
USER_PERMISSIONS_CHANGED = "user.permissions_changed"
GROUP_CREATED = "group.created"
GROUP_CHANGED = "group.changed"
GROUP_DELETED = "group.deleted"
TOKEN_DENIED = "api_token.denied"  # noqa: S105 - an action name
REQUEST_REFUSED = "request.refused"
SECURITY_ACTIONS = frozenset(
    {
        LOGIN,
        LOGIN_FAILED,
        LOGOUT,
        PASSWORD_CHANGED,
        USER_CREATED,
        USER_CHANGED,
        USER_DELETED,
        USER_GROUPS_CHANGED,
        USER_PERMISSIONS_CHANGED,
        GROUP_CREATED,
        GROUP_CHANGED,
        GROUP_DELETED,
        TOKEN_DENIED,
        REQUEST_REFUSED,
    }
)

# The account fields whose changes are recorded. The password is only ever recorded as
# "changed" (its own event); its hash never enters the audit.
USER_FIELDS = ("username", "email", "is_active", "is_staff", "is_superuser")

REDACTED = "[REDACTED]"
ANONYMOUS = "anonymous"
# Who acts when an account changes outside any web request.
NO_REQUEST = "system (no web request)"

# Reasons (the events' `reason`)
LOGIN_FAILED_REASON = "The username and password did not match an active account."
LOGIN_LOCKED_OUT_REASON = (
    "Too many failed sign-ins for this account or from this address: signing in is "
    "refused until the pause ends or security lifts it."
)
TOKEN_DENIAL_REASONS = {
    "malformed": "The credential is not a well-formed registry token (shape or checksum).",
    "unknown": "No token with this value was ever issued.",
    "revoked": "The token is revoked.",
    "expired": "The token has expired.",
    "path_not_live": "The token's access path is revoked or expired.",
    "user_inactive": "The token's person is no longer an active user.",
    "team_inactive": "The token's team is inactive.",
    "changed": "The token was refused while it was being changed.",
}
MISSING_SCOPE = "missing_scope"


def anonymous_actor() -> Actor:
    """Someone who has not proved who they are (a failed sign-in, an unknown token)."""
    return Actor(kind=AuditEvent.ActorType.USER, label=ANONYMOUS)


def _fact(value: Any) -> list[Any]:
    """A recorded fact in the `changes` shape: [before, after] with nothing before."""
    return [None, value]


def failed_login_username(typed: str) -> str:
    """The user name as typed, unless it looks like a credential: people paste
    passwords and tokens into the wrong box, and the audit must not keep them."""
    typed = typed or ""
    # Scanned whole, then cut: a long name must not push a token past the cut unseen.
    return REDACTED if find_secret(typed) else typed[:150]


def sign_in_username(request: Any, credentials: Mapping[str, Any] | None) -> str:
    """The user name django-axes counts failures under and keeps (AXES_USERNAME_CALLABLE):
    the same redaction as the audit's, so a pasted token is not kept there either."""
    credentials = credentials or {}
    field = get_user_model().USERNAME_FIELD
    typed = credentials.get(field) or credentials.get("username")
    if typed is None and request is not None and hasattr(request, "POST"):
        typed = request.POST.get("username")
    return failed_login_username(str(typed or ""))


@transaction.atomic
def security_login_succeeded(*, user: User, source_address: str, now: dt.datetime) -> AuditEvent:
    return audit_record(
        actor=Actor.for_user(user),
        action=LOGIN,
        obj=user,
        now=now,
        changes={"source_address": _fact(source_address)},
    )


@transaction.atomic
def security_login_failed(
    *, username: str, source_address: str, now: dt.datetime, locks_out: bool = False
) -> AuditEvent:
    """A refused sign-in. The event is about the account when the name is one, and
    carries the name as typed (redacted when it looks like a secret), never the
    password that was tried. The failure that reaches the limit (`locks_out`) also
    records the lockout; attempts during a lockout are not recorded one by one (they
    never reach a password check, and would let anyone flood the audit trail)."""
    shown = failed_login_username(username)
    account = None
    if shown != REDACTED and shown:
        User = get_user_model()
        account = User._default_manager.filter(**{User.USERNAME_FIELD: shown}).first()
    target = account if account is not None else no_such_object(get_user_model())
    facts = {"username": _fact(shown), "source_address": _fact(source_address)}
    event = audit_record(
        actor=anonymous_actor(), action=LOGIN_FAILED, obj=target, now=now,
        changes=facts, reason=LOGIN_FAILED_REASON,
    )  # fmt: skip
    if locks_out:
        audit_record(
            actor=anonymous_actor(), action=LOGIN_LOCKED_OUT, obj=target, now=now,
            changes=facts, reason=LOGIN_LOCKED_OUT_REASON,
        )  # fmt: skip
    return event


@transaction.atomic
def security_logged_out(*, user: User, source_address: str, now: dt.datetime) -> AuditEvent:
    return audit_record(
        actor=Actor.for_user(user),
        action=LOGOUT,
        obj=user,
        now=now,
        changes={"source_address": _fact(source_address)},
    )


@transaction.atomic
def security_password_changed(
    *, actor: Actor, user: AbstractBaseUser, usable: tuple[bool, bool], now: dt.datetime
) -> AuditEvent:
    """The account's password was set, changed or made unusable: only that it changed,
    and whether it can still be used to sign in."""
    changes: dict[str, list[Any]] = {"password": [None, "changed"]}
    if usable[0] != usable[1]:
        changes["usable_password"] = list(usable)
    return audit_record(actor=actor, action=PASSWORD_CHANGED, obj=user, now=now, changes=changes)


def _user_flags(user: AbstractBaseUser) -> dict[str, Any]:
    return {name: getattr(user, name, None) for name in USER_FIELDS}


@transaction.atomic
def security_user_created(*, actor: Actor, user: AbstractBaseUser, now: dt.datetime) -> AuditEvent:
    changes = {name: _fact(value) for name, value in _user_flags(user).items()}
    return audit_record(actor=actor, action=USER_CREATED, obj=user, now=now, changes=changes)


@transaction.atomic
def security_user_changed(
    *,
    actor: Actor,
    user: AbstractBaseUser,
    changes: Mapping[str, list[Any]],
    now: dt.datetime,
) -> AuditEvent:
    """`changes`: {field: [before, after]} for fields of USER_FIELDS only."""
    unknown = set(changes) - set(USER_FIELDS)
    if unknown:
        # The password (hash) in particular has its own event, without the hash.
        raise ValueError(f"user.changed records only {USER_FIELDS}, not {sorted(unknown)}")
    return audit_record(actor=actor, action=USER_CHANGED, obj=user, now=now, changes=changes)


@transaction.atomic
def security_user_deleted(*, actor: Actor, user: AbstractBaseUser, now: dt.datetime) -> AuditEvent:
    changes = {name: [value, None] for name, value in _user_flags(user).items()}
    return audit_record(actor=actor, action=USER_DELETED, obj=user, now=now, changes=changes)


@transaction.atomic
def security_group_membership_changed(
    *,
    actor: Actor,
    user: AbstractBaseUser,
    field: str,
    before: Iterable[str],
    after: Iterable[str],
    now: dt.datetime,
) -> AuditEvent:
    """A user's groups (`field="groups"`) or own permissions (`"user_permissions"`),
    as sorted names (groups) or app_label.codename (permissions)."""
    action = {"groups": USER_GROUPS_CHANGED, "user_permissions": USER_PERMISSIONS_CHANGED}[field]
    return audit_record(
        actor=actor,
        action=action,
        obj=user,
        now=now,
        changes={field: [sorted(before), sorted(after)]},
    )


@transaction.atomic
def security_group_changed(
    *,
    actor: Actor,
    group: Group,
    changes: Mapping[str, list[Any]],
    now: dt.datetime,
    created: bool = False,
) -> AuditEvent:
    """A group was created, renamed, or given or stripped of permissions:
    `changes` is {"name": [..]} and/or {"permissions": [sorted before, sorted after]}."""
    action = GROUP_CREATED if created else GROUP_CHANGED
    return audit_record(actor=actor, action=action, obj=group, now=now, changes=changes)


@transaction.atomic
def security_group_deleted(*, actor: Actor, group: Group, now: dt.datetime) -> AuditEvent:
    return audit_record(
        actor=actor, action=GROUP_DELETED, obj=group, now=now, changes={"name": [group.name, None]}
    )


def token_denial(raw: str, *, now: dt.datetime) -> tuple[ApiToken | None, str, str]:
    """Why `raw` is not a usable token: (the token when it was issued, what may be shown
    of it, the reason code). What may be shown is its display prefix when the checksum
    holds (so it is one of ours, or meant to look like one), else "malformed": a value
    that is not a registry token may be any other secret, pasted in the wrong place."""
    if not token_format.is_well_formed(raw):
        return None, "malformed", "malformed"
    presented = token_format.display_prefix(raw)
    token = (
        ApiToken.objects.select_related("team", "user", "access_path")
        .filter(token_hash=token_format.hash_token(raw))
        .first()
    )
    if token is None:
        return None, presented, "unknown"
    if token.revoked_at is not None:
        why = "revoked"
    elif token.expires_at <= now:
        why = "expired"
    elif not is_live(token.access_path, now):
        why = "path_not_live"
    elif token.user is not None and not token.user.is_active:
        why = "user_inactive"
    elif token.team is not None and not token.team.is_active:
        why = "team_inactive"
    else:
        # Refused a moment ago, usable now: it changed in between (renewed, say).
        why = "changed"
    return token, token.prefix, why


@transaction.atomic
def security_token_denied(
    *,
    token: ApiToken | None,
    presented: str,
    why: str,
    source_address: str,
    now: dt.datetime,
    operation: str = "",
    reason: str = "",
) -> AuditEvent:
    """A bearer token was refused. `presented` is its display prefix or "malformed",
    never the token. An issued token's event is about that token (and on its access
    path's timeline), acted by it; an unknown one's is about no token, by anyone."""
    changes = {
        "token": _fact(presented),
        "why": _fact(why),
        "source_address": _fact(source_address),
    }
    if operation:
        changes["operation"] = _fact(redact(operation))
    return audit_record(
        actor=Actor.for_token(token) if token is not None else anonymous_actor(),
        action=TOKEN_DENIED,
        obj=token if token is not None else no_such_object(ApiToken),
        path=token.access_path if token is not None else None,
        now=now,
        changes=changes,
        reason=reason or TOKEN_DENIAL_REASONS.get(why, why),
    )


def refusal_target(model: type[models.Model], **lookup: Any) -> models.Model | None:
    """The object a refused request named, if it exists (a malformed id names nothing)."""
    try:
        return model._default_manager.filter(**lookup).first()
    except (ValueError, TypeError, ValidationError):
        return None


def _path_of(obj: models.Model) -> AccessPath | None:
    if isinstance(obj, ApiToken):
        return obj.access_path
    path = getattr(obj, "path", None)
    return path if isinstance(path, AccessPath) else None


def _account_of(actor: Actor) -> models.Model:
    """The caller's own record: the token it used, or the person, or no such user."""
    if actor.token_id:
        token = ApiToken.objects.filter(prefix=actor.token_id).first()
        if token is not None:
            return token
    if actor.user is not None:
        return actor.user
    return no_such_object(get_user_model())


@transaction.atomic
def security_action_refused(
    *,
    actor: Actor,
    operation: str,
    request_line: str,
    target: models.Model | None,
    target_ref: str,
    reason: str,
    status: int,
    source_address: str,
    now: dt.datetime,
) -> AuditEvent:
    """A request refused as not allowed (403) or not possible in the object's state
    (409), recorded after the refused change rolled back.

    The event is about the object the request named when it exists (and on its path's
    timeline); otherwise (a create, or a name that matches nothing) about the caller's
    own account, with what was asked for in `target`. `reason` is the refusal's message.
    """
    # What the caller sent is echoed here, and a URL can carry a credential
    # (/api/v1/teams/ghp_…/): the audit trail would rightly refuse it, losing the event.
    changes = {
        "operation": _fact(redact(operation)),
        "request": _fact(redact(request_line)),
        "status": _fact(status),
        "source_address": _fact(source_address),
    }
    if target_ref:
        changes["target"] = _fact(redact(target_ref))
    obj = target if target is not None else _account_of(actor)
    return audit_record(
        actor=actor,
        action=REQUEST_REFUSED,
        obj=obj,
        path=_path_of(target) if target is not None else None,
        now=now,
        changes=changes,
        reason=reason,
    )
