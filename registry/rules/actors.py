"""Who is acting: a person, an API token (an integration or a person's own), or the system.

Services take an Actor and decide from it; it caches the actor's team roles so one
request asks the database once.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from registry.models import ApiToken, AuditEvent, Membership, Team

if TYPE_CHECKING:
    from django.contrib.auth.models import User


@dataclass(eq=False)
class Actor:
    kind: str  # one of AuditEvent.ActorType
    label: str
    user: User | None = None
    # A team token: an integration acting for one team, never for a person.
    integration_team: Team | None = None
    token_id: str = ""
    # A team token's issuer: the person answerable for what the integration asks.
    token_issuer_id: int | None = None

    @classmethod
    def for_user(cls, user: User) -> Actor:
        return cls(kind=AuditEvent.ActorType.USER, label=user.get_username(), user=user)

    @classmethod
    def system(cls, label: str = "system") -> Actor:
        return cls(kind=AuditEvent.ActorType.SYSTEM, label=label)

    @classmethod
    def integration(
        cls, team: Team, *, token_id: str, name: str, issuer_id: int | None = None
    ) -> Actor:
        return cls(
            kind=AuditEvent.ActorType.TOKEN,
            label=f"token {name} ({team.slug})",
            integration_team=team,
            token_id=token_id,
            token_issuer_id=issuer_id,
        )

    @classmethod
    def personal_token(cls, user: User, *, token_id: str, name: str) -> Actor:
        return cls(
            kind=AuditEvent.ActorType.TOKEN,
            label=f"{user.get_username()} via token {name}",
            user=user,
            token_id=token_id,
        )

    @classmethod
    def for_token(cls, token: ApiToken) -> Actor:
        """Who acts through an API token: its team's integration, or its person."""
        if (team := token.team) is not None:
            return cls.integration(
                team, token_id=token.prefix, name=token.name, issuer_id=token.created_by_id
            )
        if token.user is None:  # the check constraint api_token_for_a_team_or_a_person
            raise ValueError(f"token {token.prefix} is neither a team's nor a person's")
        return cls.personal_token(token.user, token_id=token.prefix, name=token.name)

    @property
    def is_system(self) -> bool:
        return self.kind == AuditEvent.ActorType.SYSTEM

    @property
    def is_person(self) -> bool:
        """A human acting: signed in, or through their own personal token."""
        return self.user is not None

    @property
    def is_integration(self) -> bool:
        return self.integration_team is not None

    @cached_property
    def roles(self) -> dict[int, str]:
        """Team id -> role, for active teams only (an inactive team cannot act)."""
        if self.integration_team is not None:
            if not self.integration_team.is_active:
                return {}
            return {self.integration_team.pk: "integration"}
        if self.user is None:
            return {}
        rows = Membership.objects.filter(
            user=self.user, ended_at__isnull=True, team__is_active=True
        ).values_list("team_id", "role", "team__kind")
        self._team_kinds = {team_id: kind for team_id, _, kind in rows}
        return {team_id: role for team_id, role, _ in rows}

    @property
    def team_ids(self) -> set[int]:
        return set(self.roles)

    def member_of(self, team_id: int | None) -> bool:
        return team_id is not None and team_id in self.roles

    def lead_of(self, team_id: int | None) -> bool:
        return team_id is not None and self.roles.get(team_id) == Membership.Role.LEAD

    @cached_property
    def is_security_reviewer(self) -> bool:
        """A person in an active security team. Tokens never review, even security's."""
        if not self.is_person:
            return False
        self.roles  # noqa: B018 - fills _team_kinds
        return Team.Kind.SECURITY in self._team_kinds.values()

    @property
    def sees_everything(self) -> bool:
        if self.is_system or self.is_security_reviewer:
            return True
        team = self.integration_team
        return team is not None and team.is_active and team.kind == Team.Kind.SECURITY

    def invalidate(self) -> None:
        """Forget cached roles after a membership change made in the same request."""
        self.__dict__.pop("roles", None)
        self.__dict__.pop("is_security_reviewer", None)


class NotSignedIn(Exception):
    """The request carries neither a signed-in person nor an API token, so nobody acts
    (the API answers 401; every page that acts asks for a sign-in first)."""


# Where `actor_for` keeps its answer on the request it was asked about.
_CACHED_ACTOR = "_nhi_actor"


def actor_for(request: Any) -> Actor:
    """Who is acting on `request`, a page's HttpRequest or the API's Request: the API
    token it was authenticated with, else its signed-in person. Cached on the request,
    so one request reads its roles once. Raises NotSignedIn for an anonymous request."""
    # The object's own attributes only: DRF's Request would otherwise answer with the
    # wrapped HttpRequest's attribute.
    actor = vars(request).get(_CACHED_ACTOR)
    if actor is None:
        token = getattr(request, "auth", None)
        user = getattr(request, "user", None)
        if isinstance(token, ApiToken):
            actor = Actor.for_token(token)
        elif user is not None and user.is_authenticated:
            actor = Actor.for_user(user)
        else:
            raise NotSignedIn
        setattr(request, _CACHED_ACTOR, actor)
    return actor
