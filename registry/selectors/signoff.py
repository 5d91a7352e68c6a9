"""Reads of the human sign-off model (issue 18): a path's policy and recent agent
actions, the actions a caller may see, and the leads' queue of waiting requests."""

from __future__ import annotations

import datetime as dt

from django.db.models import QuerySet

from registry.models import AccessPath, AgentAction, SignoffPolicy
from registry.rules.actors import Actor
from registry.rules.policies import Policy
from registry.selectors.my_work import QueueRow, queue_rows, waiting_agent_actions
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


def signoff_queue(*, actor: Actor, now: dt.datetime, policy: Policy, size: int) -> list[QueueRow]:
    """The leads' queue (selectors/my_work.waiting_agent_actions, oldest first, by the
    agent_action_pending index), with each path's context (its policy's rollback path,
    its violations) in two queries, as the claim queue."""
    actions = waiting_agent_actions(actor).select_related(
        "path__steward_team", "path__signoff_policy"
    )[:size]
    return queue_rows(actions, kind="signoff", actor=actor, now=now, policy=policy)
