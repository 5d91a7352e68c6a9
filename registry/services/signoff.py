"""The human sign-off model (issue 18): a path's sign-off policy, and the actions agents
record against it.

- `signoff_policy_set`: a lead (security for a critical path) sets or changes a path's
  policy; compare-and-set on its version, audited with before and after, the path's
  facts refreshed (the MISSING_SIGNOFF_POLICY rule reads it).
- `signoff_policy_for_new_path`: the policy a registration carries (a token may include
  one when it creates a path: creating is not changing).
- `agent_action_record`: an agent's action, checked against the policy
  (rules/signoff.thresholds_crossed); above a threshold it waits as a sign-off request
  and the owning team's leads are told (security for a critical path).
- `agent_action_decide`: a lead approves or rejects a waiting request (compare-and-set);
  the team that recorded it is told.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.db import IntegrityError, transaction

from registry.audit import audit_record, diff
from registry.models import AccessPath, AgentAction, ApiToken, Notification, SignoffPolicy, Team
from registry.notifications.outbox import Audience, Notice, path_summary, queue
from registry.rules import errors, preconditions
from registry.rules import signoff as rules
from registry.rules.actors import Actor
from registry.rules.errors import Invalid, InvalidTransition, StaleVersion
from registry.rules.validation import merge_errors, secret_errors, ticket_url_error
from registry.services._common import (
    lock_path,
    refuse_if,
    refuse_transition,
    require_text,
    resolve_now,
)
from registry.services.tallies import refresh_facts

Signoff = AgentAction.Signoff
REASON = Notification.Reason.SIGNOFF_REQUEST
POLICY_FIELDS = ("actions", "allowed_scopes", "data_classes", "max_records", "rollback_path")
# The column's bound (PositiveIntegerField on PostgreSQL).
MAX_RECORDS = 2_147_483_647
MAX_REFERENCE = AgentAction._meta.get_field("reference").max_length or 500
ACTION_FIELDS = ("action", "scopes", "data_classes", "records", "summary", "reference")


# --- validation -----------------------------------------------------------------------


def _slugs(value: Any) -> list[str] | None:
    """A list of short names, deduplicated in order; None when it is not one."""
    if not isinstance(value, list) or len(value) > rules.MAX_ITEMS:
        return None
    if not all(isinstance(v, str) and rules.SLUG.match(v) for v in value):
        return None
    return list(dict.fromkeys(value))


def _scopes(value: Any) -> list[str] | None:
    if not isinstance(value, list) or len(value) > rules.MAX_ITEMS:
        return None
    if not all(isinstance(v, str) and 0 < len(v.strip()) <= rules.MAX_SCOPE_LENGTH for v in value):
        return None
    return list(dict.fromkeys(v.strip() for v in value))


def _records(value: Any) -> tuple[bool, int | None]:
    """(valid, value): a whole number 0 or more, or None."""
    if value is None:
        return True, None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_RECORDS:
        return False, None
    return True, value


def _unknown(data: Mapping[str, Any], known: tuple[str, ...], prefix: str) -> None:
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise Invalid({f"{prefix}{key}": [errors.UNKNOWN_FIELD] for key in unknown})


def _scan(values: Mapping[str, Any], prefix: str) -> dict[str, list[str]]:
    """Credential-looking text in any value (a list's items one by one), by field."""
    found: dict[str, list[str]] = {}
    for field, value in values.items():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str) and (hit := secret_errors({prefix + field: item})):
                found.update(hit)
                break
    return found


def clean_policy(data: Mapping[str, Any], *, prefix: str = "") -> dict[str, Any]:
    """A policy's values from a caller's `data`, or Invalid naming each bad field
    (prefixed, e.g. "signoff_policy.rollback_path" in a registration)."""
    if not isinstance(data, Mapping):
        raise Invalid.single(prefix.rstrip(".") or "signoff_policy", errors.REQUIRED)
    _unknown(data, POLICY_FIELDS, prefix)
    found: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    for field in ("actions", "data_classes"):
        cleaned = _slugs(data.get(field, []))
        if cleaned is None:
            found[prefix + field] = [errors.SIGNOFF_SLUGS.format(count=rules.MAX_ITEMS)]
        values[field] = cleaned or []
    scopes = _scopes(data.get("allowed_scopes", []))
    if scopes is None:
        found[prefix + "allowed_scopes"] = [errors.SIGNOFF_SCOPES.format(count=rules.MAX_ITEMS)]
    values["allowed_scopes"] = scopes or []
    ok, values["max_records"] = _records(data.get("max_records"))
    if not ok:
        found[prefix + "max_records"] = [errors.SIGNOFF_RECORDS]
    rollback = data.get("rollback_path")
    values["rollback_path"] = rollback.strip() if isinstance(rollback, str) else ""
    if not values["rollback_path"]:
        found[prefix + "rollback_path"] = [errors.REQUIRED]
    if merged := merge_errors(found, _scan(values, prefix)):
        raise Invalid(merged)
    return values


def clean_action(data: Mapping[str, Any]) -> dict[str, Any]:
    """An agent action's values from the caller's `data`, or Invalid naming each field."""
    _unknown(data, ACTION_FIELDS, "")
    found: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    action = data.get("action")
    if not isinstance(action, str) or not rules.SLUG.match(action):
        found["action"] = [errors.REQUIRED if not action else errors.SIGNOFF_SLUGS.format(count=1)]
    values["action"] = action if isinstance(action, str) else ""
    scopes = _scopes(data.get("scopes", []))
    if scopes is None:
        found["scopes"] = [errors.SIGNOFF_SCOPES.format(count=rules.MAX_ITEMS)]
    values["scopes"] = scopes or []
    classes = _slugs(data.get("data_classes", []))
    if classes is None:
        found["data_classes"] = [errors.SIGNOFF_SLUGS.format(count=rules.MAX_ITEMS)]
    values["data_classes"] = classes or []
    ok, values["records"] = _records(data.get("records"))
    if not ok:
        found["records"] = [errors.SIGNOFF_RECORDS]
    summary = data.get("summary", "")
    values["summary"] = summary.strip() if isinstance(summary, str) else ""
    reference = data.get("reference", "")
    values["reference"] = reference.strip() if isinstance(reference, str) else ""
    if values["reference"] and (message := ticket_url_error(values["reference"])):
        found["reference"] = [message]
    elif len(values["reference"]) > MAX_REFERENCE:
        found["reference"] = [errors.TICKET_URL_INVALID]
    if merged := merge_errors(found, _scan(values, "")):
        raise Invalid(merged)
    return values


# --- the policy -----------------------------------------------------------------------


def _stale(expected: int | None, actual: int) -> StaleVersion:
    return StaleVersion(errors.SIGNOFF_POLICY_STALE.format(expected=expected, actual=actual))


def _policy_values(policy: SignoffPolicy) -> dict[str, Any]:
    return {field: getattr(policy, field) for field in POLICY_FIELDS}


def _create(
    *, actor: Actor, path: AccessPath, values: dict, reason: str, now: dt.datetime
) -> SignoffPolicy:
    try:
        # A concurrent first setting of the same path loses on the one-to-one key.
        with transaction.atomic():
            policy = SignoffPolicy.objects.create(
                path=path, created_at=now, updated_at=now, updated_by_label=actor.label, **values
            )
    except IntegrityError as exc:
        raise _stale(0, 1) from exc
    refresh_facts([path.pk], now=now)  # MISSING_SIGNOFF_POLICY reads it
    audit_record(
        actor=actor,
        action="signoff_policy.created",
        obj=policy,
        path=path,
        now=now,
        changes=diff({}, values),
        reason=reason,
    )
    return policy


@transaction.atomic
def signoff_policy_set(
    *,
    actor: Actor,
    path: AccessPath,
    data: Mapping[str, Any],
    reason: str = "",
    expected_version: int | None = None,
    now: dt.datetime | None = None,
) -> SignoffPolicy:
    """Set or change `path`'s sign-off policy. `expected_version`: the policy's version
    as the caller read it (0: "none yet"), so a stale edit fails instead of overwriting."""
    now = resolve_now(now)
    locked = lock_path(path.pk)
    refuse_if(rules.refuse_signoff_change(actor, locked))
    refuse_transition(preconditions.refuse_not_live(locked, now))
    values = clean_policy(data)
    reason = require_text("reason", reason) if reason.strip() else ""
    policy = SignoffPolicy.objects.select_for_update().filter(path=locked).first()
    if policy is None:
        if expected_version not in (None, 0):
            raise _stale(expected_version, 0)
        return _create(actor=actor, path=locked, values=values, reason=reason, now=now)
    if expected_version is not None and expected_version != policy.version:
        raise _stale(expected_version, policy.version)
    changes = diff(_policy_values(policy), values)
    if not changes:
        return policy
    writes = {**values, "updated_at": now, "updated_by_label": actor.label}
    updated = SignoffPolicy.objects.filter(pk=policy.pk, version=policy.version).update(
        **writes, version=policy.version + 1
    )
    if updated != 1:  # the row is locked: only a bug gets here
        raise _stale(expected_version, policy.version)
    for field, value in writes.items():
        setattr(policy, field, value)
    policy.version += 1
    refresh_facts([locked.pk], now=now)
    audit_record(
        actor=actor,
        action="signoff_policy.updated",
        obj=policy,
        path=locked,
        now=now,
        changes=changes,
        reason=reason,
    )
    return policy


def signoff_policy_for_new_path(
    *, actor: Actor, path: AccessPath, data: Mapping[str, Any], now: dt.datetime
) -> SignoffPolicy:
    """The policy a registration carries (`signoff_policy` in its body), for the path
    just saved in the caller's transaction. Whoever may register the path may give it
    one, a token too: creating is not changing (refuse_signoff_change guards changes)."""
    values = clean_policy(data, prefix="signoff_policy.")
    return _create(actor=actor, path=path, values=values, reason="", now=now)


def signoff_policy_unchanged(path: AccessPath, data: Mapping[str, Any]) -> None:
    """A registration repeated with the policy it registered passes; one that differs
    from the path's policy is refused (a lead changes it, never a registration)."""
    values = clean_policy(data, prefix="signoff_policy.")
    policy = SignoffPolicy.objects.filter(path=path).first()
    if policy is None or diff(_policy_values(policy), values):
        raise Invalid.single("signoff_policy", errors.SIGNOFF_POLICY_DIFFERS)


# --- agents' actions ------------------------------------------------------------------


@transaction.atomic
def agent_action_record(
    *, actor: Actor, path: AccessPath, data: Mapping[str, Any], now: dt.datetime | None = None
) -> AgentAction:
    """Record an action an agent took (or asks to take) with `path`'s credential. Within
    the policy it is `not_needed`; above a threshold `pending`, and the path's deciders
    are told (the owning team's leads; security for a critical path)."""
    now = resolve_now(now)
    refuse_if(rules.refuse_agent_action_record(actor, path))
    refuse_transition(preconditions.refuse_not_live(path, now))
    values = clean_action(data)
    policy = SignoffPolicy.objects.filter(path=path).first()
    reasons = rules.thresholds_crossed(
        policy,
        action=values["action"],
        scopes=values["scopes"],
        data_classes=values["data_classes"],
        records=values["records"],
    )
    token = ApiToken.objects.filter(prefix=actor.token_id).first() if actor.token_id else None
    action = AgentAction.objects.create(
        path=path,
        recorded_at=now,
        recorded_by_label=actor.label,
        token=token,
        signoff=Signoff.PENDING if reasons else Signoff.NOT_NEEDED,
        signoff_reasons=reasons,
        **values,
    )
    audit_record(
        actor=actor,
        action="agent_action.recorded",
        obj=action,
        path=path,
        now=now,
        changes={
            "action": [None, action.action],
            "signoff": [None, action.signoff],
            **({"signoff_reasons": [None, reasons]} if reasons else {}),
        },
    )
    if reasons:
        _tell(action, path, now, deciders=True)
    return action


@transaction.atomic
def agent_action_decide(
    *,
    actor: Actor,
    action: AgentAction,
    approve: bool,
    reason: str = "",
    now: dt.datetime | None = None,
) -> AgentAction:
    """Approve or reject a waiting sign-off request (a reason is required to reject);
    compare-and-set on its version, so two deciders cannot both decide it."""
    now = resolve_now(now)
    current = AgentAction.objects.select_related("path", "token").get(pk=action.pk)
    refuse_if(rules.refuse_agent_action_decide(actor, current))
    if current.signoff != Signoff.PENDING:
        raise InvalidTransition(errors.AGENT_ACTION_NOT_PENDING.format(status=current.signoff))
    reason = require_text("reason", reason) if not approve or reason.strip() else ""
    outcome = Signoff.APPROVED if approve else Signoff.REJECTED
    writes = {
        "signoff": outcome,
        "decided_by": actor.user,
        "decided_by_label": actor.label,
        "decided_at": now,
        "decision_reason": reason,
    }
    updated = AgentAction.objects.filter(
        pk=current.pk, version=current.version, signoff=Signoff.PENDING
    ).update(**writes, version=current.version + 1)
    if updated != 1:
        fresh = AgentAction.objects.get(pk=current.pk)
        raise InvalidTransition(errors.AGENT_ACTION_NOT_PENDING.format(status=fresh.signoff))
    for field, value in writes.items():
        setattr(current, field, value)
    current.version += 1
    audit_record(
        actor=actor,
        action=f"agent_action.{outcome}",
        obj=current,
        path=current.path,
        now=now,
        changes={"signoff": [Signoff.PENDING, outcome]},
        reason=reason,
    )
    _tell(current, current.path, now, deciders=False)
    return current


def _tell(action: AgentAction, path: AccessPath, now: dt.datetime, *, deciders: bool) -> None:
    """A waiting request: to its deciders (the owning team's leads, security's people for
    a critical path). A decision: to the team that recorded it (the token's team, else
    the owning team)."""
    critical = path.risk_tier == AccessPath.RiskTier.CRITICAL
    if deciders and (critical or path.owner_team_id is None):
        teams = list(Team.objects.filter(kind=Team.Kind.SECURITY, is_active=True))
        audience = Audience.MEMBERS
    elif deciders:
        teams = [t for t in [path.owner_team] if t is not None and t.is_active]
        audience = Audience.LEADS
    else:
        recorder = action.token.team if action.token is not None else None
        team = recorder or path.owner_team
        teams = [team] if team is not None and team.is_active else []
        audience = Audience.MEMBERS
    payload: dict[str, Any] = {
        "path": path_summary(path),
        "reason": REASON,
        "agent_action": action.pk,
        "action": action.action,
        "reasons": action.signoff_reasons,
        "recorded_by": action.recorded_by_label,
    }
    if not deciders:
        payload |= {"decision": action.signoff, "decided_by": action.decided_by_label}
    notices = [
        Notice(
            team_id=team.pk,
            audience=audience,
            path_id=path.pk,
            reason=REASON,
            cycle=action.decided_at or action.recorded_at,
            payload=payload,
        )
        for team in teams
    ]
    if notices:
        queue(notices, teams={t.pk: t for t in teams}, now=now)
