"""The sweep's yardstick: the same writes as `registry.services.sweep.sweep`, done by
hand-written set-based SQL, one statement per step.

Which paths each step touches is decided by the same predicates the sweep uses
(registry.rules.status), compiled by Django into a temporary table of ids, so the two
cannot disagree about what is due. Then, per step, one UPDATE of the paths' state or
escalation stage and one `INSERT … SELECT … ON CONFLICT DO NOTHING` of the outbox rows
to the same recipients (rules/recipients.py: owner, leads, steward, security by stage).
What the yardstick leaves out, so the ratio includes it as the sweep's own cost: the
audit events of the escalations and expiries (a hash chain), the lifecycle events to
webhooks (the benchmark's teams have none) and the incident and source-confirmation
steps (the benchmark's estate has nothing for them).

It runs inside a transaction that is rolled back: the sweep measured next starts from
the same state.
"""

# Every statement here is assembled from this module's constants and Django's compiled
# predicates; values always travel as parameters.
# ruff: noqa: S608

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import connection, transaction
from django.db.models import Q

from registry.models import AccessPath, Notification, Team
from registry.rules import status
from registry.rules.policies import Policy, current_policy

Reason = Notification.Reason

_COLUMNS = (
    "team_id, audience, channel, path_id, reason, payload, cycle, stage, status, attempts, "
    "next_attempt_at, last_error, created_at"
)
# The outbox row for (team, audience) about path u, written by every step alike.
_VALUES = (
    "r.team_id, r.audience, 'email', u.id, r.reason, "
    "jsonb_build_object('path', jsonb_build_object('id', u.id::text, 'name', u.name, "
    "'system', u.system, 'environment', u.environment), 'reason', r.reason, "
    "'stage', r.stage), r.cycle, r.stage, 'pending', 0, %(now)s, '', %(now)s"
)
_RETURNING = (
    "p.id, p.name, p.system, p.environment, p.owner_team_id, p.steward_team_id, "
    "p.next_review_at, p.expires_at, p.state_changed_at, p.escalation_stage AS stage"
)


def _due(q: Q) -> None:
    """The ids `q` selects, into the temporary table bench_due (emptied first)."""
    query, params = AccessPath.objects.filter(q).values("id").query.sql_with_params()
    with connection.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS bench_due")
        cur.execute(f"CREATE TEMPORARY TABLE bench_due AS {query}", params)


def _write(statement: str, params: dict[str, Any]) -> int:
    with connection.cursor() as cur:
        cur.execute(statement, params)
        return cur.rowcount


def _insert(source: str, recipients: str) -> str:
    """Outbox rows from `source` (a CTE named u) to `recipients` (a LATERAL subquery of
    team_id, audience, reason, cycle, stage)."""
    return (
        f"{source} INSERT INTO registry_notification ({_COLUMNS}) "
        f"SELECT {_VALUES} FROM u CROSS JOIN LATERAL ({recipients}) r "
        "WHERE r.team_id IS NOT NULL ON CONFLICT DO NOTHING"
    )


def set_based_sweep(now: dt.datetime, policy: Policy | None = None) -> dict[str, int]:
    """Every write of one sweep at `now`, set-based, then rolled back. Returns the rows
    each statement wrote."""
    policy = policy or current_policy()
    security = list(
        Team.objects.filter(kind=Team.Kind.SECURITY, is_active=True).values_list("pk", flat=True)
    )
    lines = [now - dt.timedelta(days=days) for days in policy.escalation_days]
    offsets = sorted(policy.reminder_offsets_days)
    params: dict[str, Any] = {
        "now": now,
        "security": security,
        "unclaimed_line": now - dt.timedelta(days=policy.unclaimed_escalation_days),
        **{f"line{k}": line for k, line in enumerate(lines)},
        **{f"offset{k}": now + dt.timedelta(days=d) for k, d in enumerate(offsets)},
        **{f"days{k}": d for k, d in enumerate(offsets)},
    }
    reached = " + ".join(f"(p.next_review_at <= %(line{k})s)::int" for k in range(len(lines)))

    def offset_of(column: str) -> str:
        cases = " ".join(
            f"WHEN u.{column} <= %(offset{k})s THEN %(days{k})s" for k in range(len(offsets))
        )
        return f"CASE {cases} END"

    owner = "SELECT u.owner_team_id AS team_id, 'members' AS audience"
    owner_or_steward = (
        "SELECT COALESCE(u.owner_team_id, u.steward_team_id) AS team_id, 'members' AS audience"
    )
    security_members = "SELECT s AS team_id, 'members' AS audience FROM unnest(%(security)s) s"
    counts: dict[str, int] = {}
    with transaction.atomic():
        # 1. expiry
        _due(status.expiry_due_q(now))
        counts["expired"] = _write(
            _insert(
                "WITH u AS (UPDATE registry_accesspath p SET state = 'expired', "
                "state_changed_at = %(now)s, updated_at = %(now)s, version = p.version + 1 "
                f"FROM bench_due d WHERE p.id = d.id RETURNING {_RETURNING})",
                f"SELECT x.team_id, x.audience, '{Reason.EXPIRED}' AS reason, "
                f"u.expires_at AS cycle, 0 AS stage FROM ({owner_or_steward}) x",
            ),
            params,
        )
        # 2. offboarded (NHI1): lapsed at once, steward and security told
        _due(status.offboarded_due_q(now))
        counts["offboarded"] = _write(
            _insert(
                "WITH u AS (UPDATE registry_accesspath p SET escalation_stage = 4 "
                f"FROM bench_due d WHERE p.id = d.id RETURNING {_RETURNING})",
                f"SELECT x.team_id, x.audience, '{Reason.OWNER_UNACCOUNTABLE}' AS reason, "
                "u.next_review_at AS cycle, 4 AS stage FROM ("
                f"{security_members} UNION ALL "
                "SELECT u.steward_team_id, 'members') x",
            ),
            params,
        )
        # 3. the overdue ladder: each path jumps to the stage its age has reached
        _due(status.ladder_due_q(now, policy))
        counts["escalated"] = _write(
            _insert(
                f"WITH u AS (UPDATE registry_accesspath p SET escalation_stage = {reached} "
                f"FROM bench_due d WHERE p.id = d.id RETURNING {_RETURNING})",
                "SELECT x.team_id, x.audience, CASE WHEN u.stage >= 4 THEN "
                f"'{Reason.LAPSED}' ELSE '{Reason.REVIEW_OVERDUE}' END AS reason, "
                "u.next_review_at AS cycle, u.stage FROM ("
                f"{owner} WHERE u.stage = 1 OR u.stage >= 4 UNION ALL "
                "SELECT u.owner_team_id, 'leads' WHERE u.stage = 2 UNION ALL "
                f"{security_members} WHERE u.stage >= 3) x",
            ),
            params,
        )
        # 4. review reminders, at the offset each due date has reached
        _due(status.review_reminder_due_q(now, policy))
        counts["review reminders"] = _write(
            _insert(
                f"WITH u AS (SELECT {_RETURNING} FROM registry_accesspath p "
                "JOIN bench_due d ON d.id = p.id)",
                f"SELECT x.team_id, x.audience, '{Reason.REVIEW_REMINDER}' AS reason, "
                f"u.next_review_at AS cycle, {offset_of('next_review_at')} AS stage "
                f"FROM ({owner}) x",
            ),
            params,
        )
        # 5. expiry reminders: the owner, or the steward while nobody owns the path
        _due(status.expiry_reminder_due_q(now, policy))
        counts["expiry reminders"] = _write(
            _insert(
                f"WITH u AS (SELECT {_RETURNING} FROM registry_accesspath p "
                "JOIN bench_due d ON d.id = p.id)",
                f"SELECT x.team_id, x.audience, '{Reason.EXPIRY_REMINDER}' AS reason, "
                f"u.expires_at AS cycle, {offset_of('expires_at')} AS stage "
                f"FROM ({owner_or_steward}) x",
            ),
            params,
        )
        # 6. unowned paths: steward and security, escalated once unclaimed for long
        _due(status.unowned_live_q(now))
        counts["unowned notices"] = _write(
            _insert(
                f"WITH u AS (SELECT {_RETURNING} FROM registry_accesspath p "
                "JOIN bench_due d ON d.id = p.id)",
                "SELECT x.team_id, x.audience, CASE WHEN u.state_changed_at <= "
                f"%(unclaimed_line)s THEN '{Reason.UNCLAIMED}' ELSE '{Reason.UNOWNED}' END "
                "AS reason, "
                "u.state_changed_at AS cycle, CASE WHEN u.state_changed_at <= "
                "%(unclaimed_line)s THEN 1 ELSE 0 END AS stage FROM ("
                f"{security_members} UNION ALL SELECT u.steward_team_id, 'members') x",
            ),
            params,
        )
        with connection.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS bench_due")
        transaction.set_rollback(True)
    return counts
