"""Per-system default owners of the control points (IAM, PAM, security monitoring), and
whether the system's platform offers workload identity (posture NHI6: a static or
long-lived key there breaks it).

A path's own `iam_team`/`pam_team`/`secops_team` override these and are changed through
`path_update` like any other fact of the path; `registry.rules.control_points` resolves them.
"""

from __future__ import annotations

import datetime as dt
import re

from django.db import IntegrityError, transaction

from registry.audit import audit_record, diff
from registry.models import SystemControlPolicy, Team
from registry.rules import errors, permissions
from registry.rules.actors import Actor
from registry.rules.errors import Invalid, StaleVersion
from registry.runtime.writer_lock import hold_writer_lock
from registry.services._common import refuse_if, resolve_now
from registry.services.tallies import refresh_system_facts

# What a path's `system` looks like in practice: aws, github, kubernetes, entra-id.
_SYSTEM = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def _check_system(system: str) -> str:
    name = (system or "").strip().lower()
    if not _SYSTEM.match(name):
        raise Invalid.single("system", errors.CONTROL_POLICY_SYSTEM)
    return name


def _check_teams(teams: dict[str, Team | None]) -> None:
    inactive = {f: [errors.TEAM_INACTIVE] for f, t in teams.items() if t and not t.is_active}
    if inactive:
        raise Invalid(inactive)


def _stale(expected: int | None, actual: int) -> StaleVersion:
    return StaleVersion(errors.CONTROL_POLICY_STALE.format(expected=expected, actual=actual))


@transaction.atomic
def system_control_policy_set(
    *,
    actor: Actor,
    system: str,
    iam_team: Team | None,
    pam_team: Team | None,
    secops_team: Team | None,
    offers_workload_identity: bool = False,
    expected_version: int | None = None,
    now: dt.datetime | None = None,
) -> SystemControlPolicy:
    """Set who owns each control point of every path of `system` by default (None: no
    default), and whether its platform offers workload identity (the whole policy: left
    out, it does not). Creates the system's row on first use; `expected_version` (the
    row's version, 0 for "not yet set") makes a stale edit fail instead of overwriting.
    The system's paths are reclassified in the same transaction (missing authority,
    NHI6)."""
    now = resolve_now(now)
    refuse_if(permissions.refuse_control_policy(actor))
    system = _check_system(system)
    wanted = {"iam_team": iam_team, "pam_team": pam_team, "secops_team": secops_team}
    _check_teams(wanted)
    values: dict[str, Team | bool | None] = {
        **wanted,
        "offers_workload_identity": bool(offers_workload_identity),
    }
    hold_writer_lock()  # it rewrites the system's paths' facts: runtime/writer_lock.py
    policy = SystemControlPolicy.objects.select_for_update().filter(system=system).first()
    if policy is None:
        if expected_version not in (None, 0):
            raise _stale(expected_version, 0)
        try:
            # A concurrent first setting of the same system loses on the unique key.
            with transaction.atomic():
                policy = SystemControlPolicy.objects.create(
                    system=system, created_at=now, updated_at=now, **values
                )
        except IntegrityError as exc:
            raise _stale(expected_version, 1) from exc
        changes = diff({}, {f: v for f, v in values.items() if v not in (None, False)})
        refresh_system_facts(system, now=now)  # its paths' missing-authority and NHI6 facts
        audit_record(
            actor=actor,
            action="control_policy.created",
            obj=policy,
            now=now,
            changes={"system": [None, system], **changes},
        )
        return policy
    if expected_version is not None and expected_version != policy.version:
        raise _stale(expected_version, policy.version)
    before = {field: getattr(policy, field) for field in values}
    changes = diff(before, values)
    if not changes:
        return policy
    updated = SystemControlPolicy.objects.filter(pk=policy.pk, version=policy.version).update(
        **values, version=policy.version + 1, updated_at=now
    )
    if updated != 1:  # the row is locked: only a bug gets here
        raise _stale(expected_version, policy.version)
    for field, value in values.items():
        setattr(policy, field, value)
    policy.version += 1
    policy.updated_at = now
    refresh_system_facts(system, now=now)  # its paths' missing-authority and NHI6 facts
    audit_record(actor=actor, action="control_policy.updated", obj=policy, now=now, changes=changes)
    return policy
