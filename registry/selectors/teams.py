"""Teams: members, directory, tokens, a channel test's outcome."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, QuerySet

from registry.models import (
    ApiToken,
    Membership,
    Team,
)
from registry.rules.actors import Actor
from registry.rules.permissions import may_read_team
from registry.runtime.progress import channel_test_state


def team_members(*, actor: Actor, team: Team) -> QuerySet[Membership] | None:
    """A team's current members, for the team itself and security; None for others."""
    if not may_read_team(actor, team):
        return None
    return Membership.objects.filter(team=team, ended_at__isnull=True).select_related("user")


def actor_teams(*, actor: Actor) -> QuerySet[Team]:
    """The active teams the actor acts for (a token: its one team)."""
    return Team.objects.filter(pk__in=actor.team_ids).order_by("slug")


def team_for_reader(*, actor: Actor, slug: str) -> Team | None:
    """A team whose own pages (members, coming reminders) the actor may read: its
    members and security. None for anyone else, as for a team that does not exist."""
    team = Team.objects.filter(slug=slug).first()
    return team if team is not None and may_read_team(actor, team) else None


def team_directory(*, actor: Actor) -> QuerySet[Team]:
    """Teams whose pages the actor may open: all for security, else their own."""
    qs = Team.objects.order_by("slug")
    return qs if actor.sees_everything else qs.filter(pk__in=actor.team_ids)


def team_tokens(*, team: Team) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(team=team).order_by("-created_at", "-id")


def channel_test_of(*, team: Team, test_id: str) -> dict | None:
    """A queued test-send of this team's channel (registry/runtime/progress.py), or None: an
    unknown id, or another team's test, reads as nothing."""
    state = channel_test_state(test_id)
    return state if state and state.get("team") == team.pk else None


def accountable_team_ids() -> set[int]:
    """The teams that can answer for their paths (active, with current members): the
    in-memory side of rules/status.owner_unaccountable_q, for status_of and the preview."""
    has_members = Exists(Membership.objects.filter(team_id=OuterRef("pk"), ended_at__isnull=True))
    return set(Team.objects.filter(has_members, is_active=True).values_list("pk", flat=True))
