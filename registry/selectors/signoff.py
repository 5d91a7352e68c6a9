"""Reads of the human sign-off model (issue 18): a path's policy and recent agent
actions, the actions a caller may see, and the leads' queue of waiting requests."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

from django.db.models import QuerySet

from registry.models import AccessPath, AgentAction, Membership, SignoffPolicy
from registry.rules import signoff as rules
from registry.rules.actors import Actor
from registry.selectors.paths import paths_visible_to

# Recent actions shown on a path's page.
RECENT = 10


def signoff_policy_of(path: AccessPath) -> SignoffPolicy | None:
    return SignoffPolicy.objects.filter(path=path).first()


def recent_agent_actions(path: AccessPath, *, limit: int = RECENT) -> list[AgentAction]:
    """The path's newest actions (the agent_action_by_path index)."""
    return list(AgentAction.objects.filter(path=path).order_by("-recorded_at", "-id")[:limit])


def visible_agent_actions(*, actor: Actor) -> QuerySet[AgentAction]:
    """Actions recorded against the paths the actor may see."""
    qs = AgentAction.objects.select_related("path", "path__owner_team", "token")
    return qs if actor.sees_everything else qs.filter(path__in=paths_visible_to(actor))


@dataclass
class SignoffRow:
    """A waiting sign-off request in the leads' queue, and whether this person decides it."""

    request: AgentAction
    may_decide: bool
    refusal: str = ""
    next_id: int | None = None


def signoff_queue(*, actor: Actor, size: int) -> list[SignoffRow]:
    """Waiting requests, oldest first (the agent_action_pending index): every one for
    security, those of the teams a person leads for a lead; one query for the rows,
    with the path, its owner, its policy (the rollback path) and the recording token."""
    pending = AgentAction.objects.filter(signoff=AgentAction.Signoff.PENDING)
    if not actor.is_security_reviewer:
        led = [team for team, role in actor.roles.items() if role == Membership.Role.LEAD]
        if not led or actor.token_id:
            return []
        pending = pending.filter(path__owner_team_id__in=sorted(led))
    actions = (
        pending.select_related("path", "path__owner_team", "path__signoff_policy", "token")
        .order_by("recorded_at", "id")[:size]
    )  # fmt: skip
    rows = []
    for action in actions:
        refusal = rules.refuse_agent_action_decide(actor, action) or ""
        rows.append(SignoffRow(action, may_decide=not refusal, refusal=refusal))
    decidable = [row for row in rows if row.may_decide]
    for row, following in pairwise(decidable):
        row.next_id = following.request.pk
    return rows


def pending_signoff_count(*, actor: Actor, limit: int) -> int:
    """How many waiting requests this person may decide (at most `limit` read)."""
    return sum(1 for row in signoff_queue(actor=actor, size=limit) if row.may_decide)
