"""The human sign-off model (issue 18): which thresholds an agent's action crosses, and
who may set a path's sign-off policy or decide a sign-off request.

One home for each: services/signoff.py records and decides by these, the API and the
pages offer only what they allow. A sign-off is a person's decision: a token never sets
a policy (it may include one when it registers a path: creating is not changing) and
never decides a request; on a critical path only security does either.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from registry.models import AccessPath, AgentAction, SignoffPolicy
from registry.rules import errors
from registry.rules.actors import Actor

# What a threshold crossed reads as (AgentAction.signoff_reasons, the queue, the API).
NO_POLICY = "the path has no sign-off policy"
ACTION_LISTED = "{action} always needs sign-off"
SCOPE_NOT_ALLOWED = "scope {scope} is not allowed"
DATA_CLASS_LISTED = "data class {data_class} needs sign-off"
OVER_MAX_RECORDS = "{records:,} records is over the maximum of {maximum:,}"

# An action's or a data class's name: "deploy", "delete_data", "pii", "db:write".
SLUG = re.compile(r"^[a-z0-9][a-z0-9_.:-]{0,63}$")
MAX_ITEMS = 50
MAX_SCOPE_LENGTH = 200


def thresholds_crossed(
    policy: SignoffPolicy | None,
    *,
    action: str,
    scopes: Iterable[str],
    data_classes: Iterable[str],
    records: int | None,
) -> list[str]:
    """Why an action needs a person's decision, in words; empty: within the policy.
    A path without a policy decides nothing by itself, so every action waits."""
    if policy is None:
        return [NO_POLICY]
    reasons = []
    if action in policy.actions:
        reasons.append(ACTION_LISTED.format(action=action))
    if policy.allowed_scopes:
        allowed = set(policy.allowed_scopes)
        reasons += [SCOPE_NOT_ALLOWED.format(scope=s) for s in scopes if s not in allowed]
    listed = set(policy.data_classes)
    reasons += [DATA_CLASS_LISTED.format(data_class=d) for d in data_classes if d in listed]
    maximum = policy.max_records
    if maximum is not None and records is not None and records > maximum:
        reasons.append(OVER_MAX_RECORDS.format(records=records, maximum=maximum))
    return reasons


def _critical(path: AccessPath) -> bool:
    return path.risk_tier == AccessPath.RiskTier.CRITICAL


def refuse_signoff_change(actor: Actor, path: AccessPath) -> str | None:
    """Setting or changing a path's sign-off policy: a lead of the owning team, signed
    in as a person (security for a critical path, or any); never a token, not even a
    lead's own."""
    if actor.is_system:
        return None
    if actor.token_id or not actor.is_person:
        return errors.SIGNOFF_POLICY_NOT_BY_TOKEN
    if actor.is_security_reviewer:
        return None
    if not actor.team_ids:
        return errors.OUTSIDER
    if not actor.lead_of(path.owner_team_id):
        return errors.NOT_A_LEAD
    if _critical(path):
        return errors.SIGNOFF_CRITICAL_NEEDS_SECURITY
    return None


def refuse_agent_action_record(actor: Actor, path: AccessPath) -> str | None:
    """Recording an agent's action against a path: the owning team's people and tokens
    (the agent acts with the team's credential), or the system."""
    if actor.is_system:
        return None
    if not actor.team_ids:
        return errors.OUTSIDER
    if not actor.member_of(path.owner_team_id):
        return errors.NOT_A_MEMBER
    return None


def recorded_by(actor: Actor, action: AgentAction) -> bool:
    """Whether `actor` is the person who recorded the action: themself, through their
    own token, or through a team token they issued."""
    if actor.user is None:
        return False
    if action.token_id is not None:
        token = action.token
        return token is not None and actor.user.pk in (token.user_id, token.created_by_id)
    return action.recorded_by_label == actor.user.get_username()


def refuse_agent_action_decide(actor: Actor, action: AgentAction) -> str | None:
    """Deciding a sign-off request: a lead of the owning team (security for a critical
    path, or any), a person signed in; never a token, never who recorded it."""
    if actor.token_id or not actor.is_person:
        return errors.SIGNOFF_DECISION_NOT_BY_TOKEN
    if recorded_by(actor, action):
        return errors.SELF_REVIEW_FORBIDDEN
    if actor.is_security_reviewer:
        return None
    path = action.path
    if not actor.lead_of(path.owner_team_id):
        return errors.NOT_A_LEAD
    if _critical(path):
        return errors.SIGNOFF_CRITICAL_NEEDS_SECURITY
    return None
