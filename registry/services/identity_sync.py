"""People from the identity provider: their account at the first sign-in, and at every
sign-in their team memberships from their groups (NHI_OIDC_GROUP_RULES).

The rules are a JSON object `{"<group>": ["<team slug>", "member" | "lead"]}`; several
groups may grant the same team, and the highest role wins. The provider manages the
memberships it grants (a ProviderMembership marks them): each sign-in adds what the
groups grant, sets the role, and ends a managed membership whose team no group grants
any more (offboarding, OWASP NHI1). A sign-in without the groups claim (or with Entra
ID's overage marker) changes no membership: unknown groups are not "no groups". A
membership added by hand is left alone until the groups grant that team, which adopts
it. Every change goes through the team services
(audited), acted by the provider.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet

from registry.audit import audit_record
from registry.models import ExternalIdentity, Membership, ProviderMembership, Team
from registry.rules.actors import Actor
from registry.selectors.scim import PROVIDER_ACTOR_PREFIX
from registry.services._common import resolve_now
from registry.services.teams import membership_add, membership_end, membership_set_role

ROLE_RANK: dict[str, int] = {Membership.Role.MEMBER: 0, Membership.Role.LEAD: 1}
GROUP_RULES_INVALID = (
    "NHI_OIDC_GROUP_RULES must be a JSON object mapping each group to [team slug, role] "
    "with role member or lead; {problem}."
)
MEMBERSHIP_LEFT_GROUPS = "No group at {issuer} grants the {team} team any more."
GROUPS_UNAVAILABLE = (
    "The provider sent no {claim!r} claim (or only a groups overage marker): "
    "memberships left unchanged."
)
SUBJECT_TOO_LONG = (
    "The identity provider names you with a subject longer than {limit} characters, "
    "which the registry cannot keep. Ask security."
)
SIGN_IN_RACE = "Another sign-in of the same person was in progress. Try again."
# ExternalIdentity.subject's length; a longer one cannot be stored, so cannot sign in.
SUBJECT_MAX = ExternalIdentity._meta.get_field("subject").max_length or 255
EMAIL_MAX = User._meta.get_field("email").max_length or 254
FIRST_SIGN_IN_ATTEMPTS = 3
_USERNAME_UNSAFE = re.compile(r"[^\w.@+-]")
USERNAME_MAX = 150


class SignInRefused(Exception):
    """A sign-in that cannot be accepted; the message is for the person signing in."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Grant:
    """What a person's groups give them in one team."""

    role: str
    groups: tuple[str, ...]


@dataclass
class SyncResult:
    added: list[str] = field(default_factory=list)
    adopted: list[str] = field(default_factory=list)
    role_changed: list[str] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)
    unknown_teams: list[str] = field(default_factory=list)
    # The provider sent no groups (see claim_groups): memberships were left as they were.
    groups_unavailable: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.added or self.adopted or self.role_changed or self.ended)


def group_rules(raw: object = None) -> dict[str, tuple[str, str]]:
    """The configured rules, checked: group -> (team slug, role)."""
    raw = settings.NHI_OIDC_GROUP_RULES if raw is None else raw
    if not isinstance(raw, dict):
        raise ImproperlyConfigured(GROUP_RULES_INVALID.format(problem="it is not an object"))
    rules: dict[str, tuple[str, str]] = {}
    for group, target in raw.items():
        if (
            not isinstance(target, list | tuple)
            or len(target) != 2
            or not all(isinstance(part, str) and part for part in target)
        ):
            problem = f"the group {group!r} maps to {target!r}"
            raise ImproperlyConfigured(GROUP_RULES_INVALID.format(problem=problem))
        slug, role = target
        if role not in ROLE_RANK:
            problem = f"the group {group!r} names the role {role!r}"
            raise ImproperlyConfigured(GROUP_RULES_INVALID.format(problem=problem))
        rules[group] = (slug, role)
    return rules


def claim_groups(claims: Mapping[str, Any], claim: str | None = None) -> list[str] | None:
    """The person's groups from the claims; a dotted claim name reads a nested claim
    (Keycloak's realm roles: "realm_access.roles"). Anything but strings is ignored.

    None when the claim is not there (scope not granted, mapping changed) or Entra ID sent
    its groups overage marker (`_claim_names` / `hasgroups`: too many groups for the
    token) instead of the groups: we do not know the groups then, which is not the same as
    an empty list (the person is in no group)."""
    name = claim or settings.NHI_OIDC_GROUPS_CLAIM
    overage = claims.get("_claim_names")
    if claims.get("hasgroups") in (True, "true") or (
        isinstance(overage, Mapping) and name in overage
    ):
        return None
    value: Any = claims
    for part in name.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return None


def grants_for(groups: Iterable[str], rules: Mapping[str, tuple[str, str]]) -> dict[str, Grant]:
    """Team slug -> the highest role any of `groups` grants there."""
    grants: dict[str, Grant] = {}
    for group in sorted(set(groups)):
        if group not in rules:
            continue
        slug, role = rules[group]
        current = grants.get(slug)
        if current is None:
            grants[slug] = Grant(role=role, groups=(group,))
        else:
            best = role if ROLE_RANK[role] > ROLE_RANK[current.role] else current.role
            grants[slug] = Grant(role=best, groups=(*current.groups, group))
    return grants


def provider_actor(issuer: str) -> Actor:
    """Who the audit says made a group-driven change."""
    return Actor.system(f"{PROVIDER_ACTOR_PREFIX}{issuer}"[:200])


def _username_for(claims: Mapping[str, Any], issuer: str) -> str:
    wanted = claims.get(settings.NHI_OIDC_USERNAME_CLAIM) or claims.get("email") or claims["sub"]
    base = _USERNAME_UNSAFE.sub("-", str(wanted))[:USERNAME_MAX] or "user"
    if not User.objects.filter(username=base).exists():
        return base
    # Another account has that name: keep it readable and make it unique per subject.
    suffix = hashlib.sha256(f"{issuer} {claims['sub']}".encode()).hexdigest()[:8]
    return f"{base[: USERNAME_MAX - 9]}-{suffix}"


def _unlinked_people() -> QuerySet[User]:
    """Accounts a first sign-in may be linked to: never staff or a superuser (a provider
    that lets someone claim an address must not hand them the admin), never an account
    another subject already signs in as."""
    return User.objects.filter(is_staff=False, is_superuser=False, external_identities__isnull=True)


def _only(people: QuerySet[User]) -> User | None:
    matches = list(people[:2])
    return matches[0] if len(matches) == 1 else None


def _account_for(claims: Mapping[str, Any], issuer: str) -> User:
    """The account of a subject signing in for the first time (docs/identity.md,
    "Accounts"): the account SCIM provisioned for them (its user name is their
    preferred_username or email: Entra ID's userPrincipalName on both sides, and Entra
    sends no email_verified); else an account with the same email when the provider says
    it verified that email; else a new account without a usable password."""
    names = {
        str(claims[key]).strip()
        for key in (settings.NHI_OIDC_USERNAME_CLAIM, "preferred_username", "email")
        if claims.get(key)
    }
    if names:
        by_name = Q()
        for name in names:
            by_name |= Q(username__iexact=name)
        provisioned = _only(_unlinked_people().filter(by_name, scim__isnull=False))
        if provisioned is not None:
            return provisioned
    email = str(claims.get("email") or "")
    if len(email) > EMAIL_MAX:
        email = ""  # not an address we can keep; the account is found by its subject
    if email and claims.get("email_verified") is True:
        verified = _only(_unlinked_people().filter(email__iexact=email))
        if verified is not None:
            return verified
    return User.objects.create_user(username=_username_for(claims, issuer), email=email)


def _identity_for(issuer: str, subject: str) -> ExternalIdentity | None:
    return (
        ExternalIdentity.objects.select_for_update()
        .select_related("user")
        .filter(issuer=issuer, subject=subject)
        .first()
    )


def _first_sign_in(
    claims: Mapping[str, Any], issuer: str, subject: str, now: dt.datetime
) -> ExternalIdentity | None:
    """A new link for `subject`, or None when another sign-in created one (or took the
    user name) at the same moment: the caller looks again."""
    try:
        with transaction.atomic():  # a savepoint: the loser of a race rolls back to here
            user = _account_for(claims, issuer)
            identity = ExternalIdentity.objects.create(
                user=user, issuer=issuer, subject=subject, created_at=now, last_sign_in_at=now
            )
    except IntegrityError:
        return None
    audit_record(
        actor=provider_actor(issuer),
        action="identity.linked",
        obj=user,
        now=now,
        changes={"issuer": [None, issuer], "subject": [None, subject]},
    )
    return identity


@transaction.atomic
def identity_sign_in(
    *, issuer: str, claims: Mapping[str, Any], now: dt.datetime | None = None
) -> tuple[User, SyncResult]:
    """The registry user for verified `claims` (an ID token's and userinfo's), their
    memberships brought in line with their groups. The caller has checked the token.
    Raises SignInRefused (nothing changed) when the sign-in cannot be accepted, and
    ImproperlyConfigured when NHI_OIDC_GROUP_RULES is malformed."""
    now = resolve_now(now)
    rules = group_rules()  # before anything is written: a broken setting changes nothing
    subject = claims["sub"]
    if len(subject) > SUBJECT_MAX:
        raise SignInRefused(SUBJECT_TOO_LONG.format(limit=SUBJECT_MAX))
    identity = _identity_for(issuer, subject)
    if identity is None:
        # Two first sign-ins of one person at once: one link wins, the other finds it.
        for _attempt in range(FIRST_SIGN_IN_ATTEMPTS):
            identity = _first_sign_in(claims, issuer, subject, now) or _identity_for(
                issuer, subject
            )
            if identity is not None:
                break
        if identity is None:
            raise SignInRefused(SIGN_IN_RACE)
    else:
        ExternalIdentity.objects.filter(pk=identity.pk).update(last_sign_in_at=now)
    user = identity.user
    if not user.is_active:
        return user, SyncResult()  # refused by the sign-in; its memberships stay as they are
    groups = claim_groups(claims)
    if groups is None:
        return user, _groups_unavailable(user=user, issuer=issuer, now=now)
    return user, sync_memberships(user=user, issuer=issuer, groups=groups, now=now, rules=rules)


def _groups_unavailable(*, user: User, issuer: str, now: dt.datetime) -> SyncResult:
    claim = settings.NHI_OIDC_GROUPS_CLAIM
    note = GROUPS_UNAVAILABLE.format(claim=claim)
    audit_record(
        actor=provider_actor(issuer),
        action="identity.groups_applied",
        obj=user,
        now=now,
        changes={"groups": [None, None], "note": [None, note]},
        reason=note,
    )
    return SyncResult(groups_unavailable=True)


@transaction.atomic
def sync_memberships(
    *,
    user: User,
    issuer: str,
    groups: Iterable[str],
    now: dt.datetime | None = None,
    rules: Mapping[str, tuple[str, str]] | None = None,
) -> SyncResult:
    """Bring `user`'s memberships in line with what `groups` grant (see the module)."""
    now = resolve_now(now)
    actor = provider_actor(issuer)
    groups = sorted(set(groups))
    grants = grants_for(groups, group_rules() if rules is None else rules)
    teams = {team.slug: team for team in Team.objects.filter(slug__in=grants)}
    current = {
        m.team_id: m
        for m in Membership.objects.filter(user=user, ended_at__isnull=True).select_related("team")
    }
    managed = set(
        ProviderMembership.objects.filter(
            membership__in=[m.pk for m in current.values()]
        ).values_list("membership_id", flat=True)
    )
    result = SyncResult(unknown_teams=sorted(set(grants) - set(teams)))
    for slug, grant in sorted(grants.items()):
        team = teams.get(slug)
        if team is None:
            continue
        membership = current.get(team.pk)
        if membership is None:
            membership = membership_add(actor=actor, team=team, user=user, role=grant.role, now=now)
            ProviderMembership.objects.create(membership=membership, issuer=issuer, created_at=now)
            result.added.append(f"{slug}:{grant.role}")
            continue
        if membership.pk not in managed:
            ProviderMembership.objects.create(membership=membership, issuer=issuer, created_at=now)
            audit_record(
                actor=actor,
                action="membership.provider_managed",
                obj=membership,
                now=now,
                changes={"managed_by": [None, issuer]},
                reason=f"The groups {', '.join(grant.groups)} grant this team.",
            )
            result.adopted.append(slug)
        if membership.role != grant.role:
            membership_set_role(actor=actor, membership=membership, role=grant.role, now=now)
            result.role_changed.append(f"{slug}:{membership.role}->{grant.role}")
    for _, membership in sorted(current.items()):
        if membership.pk in managed and membership.team.slug not in grants:
            membership_end(
                actor=actor,
                membership=membership,
                reason=MEMBERSHIP_LEFT_GROUPS.format(issuer=issuer, team=membership.team.slug),
                now=now,
            )
            result.ended.append(membership.team.slug)
    if result.changed or result.unknown_teams:
        audit_record(
            actor=actor,
            action="identity.groups_applied",
            obj=user,
            now=now,
            changes={
                "groups": [None, groups],
                "added": [None, result.added],
                "adopted": [None, result.adopted],
                "role_changed": [None, result.role_changed],
                "ended": [None, result.ended],
                "unknown_teams": [None, result.unknown_teams],
            },
        )
    return result
