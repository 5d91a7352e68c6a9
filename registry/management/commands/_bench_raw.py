"""The benchmark's yardsticks (bench.py): what PostgreSQL does for the same work with
no application in between — the API's page written by hand, COPY of the same rows out,
COPY of the import's file in."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
from django.core.management.base import CommandError
from django.utils import timezone
from psycopg import sql

from registry.rules.policies import current_policy

# The raw yardstick: the same page the API returns (same filter, same order, the same
# fields with team slugs, tags and the derived status), written by hand.
RAW_SELECT = """
SELECT p.id, p.name, p.kind, p.system, p.external_id, p.environment,
       o.slug AS owner_team, s.slug AS steward_team, p.created_via, p.created_by_ref,
       p.consumers, p.ticket_url, p.artifact_ref, p.justification, p.privilege_scope,
       p.risk_tier, p.data_classification, p.credential_lifetime, p.rotation_days,
       p.last_rotated_at, p.last_used_at, p.requires_human_signoff, p.revocation_plan,
       p.expires_at, p.review_interval_days, p.last_attested_at, p.next_review_at, p.state,
       CASE
         WHEN p.state = 'revoked' THEN 'revoked'
         WHEN p.state = 'expired' OR p.expires_at <= %(now)s THEN 'expired'
         WHEN p.state IN ('unowned', 'claim_pending') THEN p.state
         WHEN NOT o.is_active OR NOT EXISTS (
           SELECT 1 FROM registry_membership m
           WHERE m.team_id = p.owner_team_id AND m.ended_at IS NULL
         ) OR p.next_review_at <= %(lapse)s THEN 'lapsed'
         WHEN p.next_review_at <= %(now)s THEN 'overdue'
         WHEN p.next_review_at <= %(window)s THEN 'review_due'
         ELSE 'active'
       END AS status,
       p.escalation_stage, p.version,
       ARRAY(SELECT t.slug FROM registry_accesspath_tags pt
             JOIN registry_tag t ON t.id = pt.tag_id
             WHERE pt.accesspath_id = p.id ORDER BY t.slug) AS tags,
       p.created_at, p.updated_at
FROM registry_accesspath p
LEFT JOIN registry_team o ON o.id = p.owner_team_id
LEFT JOIN registry_team s ON s.id = p.steward_team_id
WHERE {where}
ORDER BY p.created_at, p.id
"""
LIVE = (
    "p.state IN ('unowned', 'claim_pending', 'active') "
    "AND (p.expires_at IS NULL OR p.expires_at > %(now)s)"
)
ACCOUNTABLE = (
    "o.is_active AND EXISTS (SELECT 1 FROM registry_membership m "
    "WHERE m.team_id = p.owner_team_id AND m.ended_at IS NULL)"
)
LAPSED = f"{LIVE} AND p.state = 'active' AND (p.next_review_at <= %(lapse)s OR NOT ({ACCOUNTABLE}))"


def raw_params(fixed: dict[str, Any]) -> dict[str, Any]:
    policy = current_policy()
    now = timezone.now()
    return {
        **fixed,
        "now": now,
        "lapse": now - policy.lapse_after,
        "window": now + policy.review_window,
    }


def raw_page(raw: psycopg.Connection, query: sql.Composed, fixed: dict[str, Any]) -> list:
    """The page by hand: one statement, rows as dicts, serialised as the API would."""
    with raw.cursor() as cur:
        cur.execute(query, raw_params(fixed))
        if cur.description is None:  # a SELECT always describes its columns
            raise CommandError("The raw query returned no result set.")
        names = [c.name for c in cur.description]
        rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    json.dumps(rows, default=str)
    return rows


def raw_copy(raw: psycopg.Connection, where: str) -> int:
    """COPY (the rows `where` selects) TO STDOUT as CSV; the rows streamed."""
    query = sql.SQL(RAW_SELECT).format(where=sql.SQL(where))
    bound = psycopg.ClientCursor(raw).mogrify(query, raw_params({}))
    lines = 0
    with raw.cursor() as cur:
        copy_sql = f"COPY ({bound}) TO STDOUT WITH (FORMAT csv, HEADER true)"
        with cur.copy(copy_sql) as copy:
            for piece in copy:
                lines += bytes(piece).count(b"\n")
    raw.rollback()
    return lines - 1


def copy_file(raw: psycopg.Connection, path: Path) -> int:
    """COPY the import's CSV into a plain text table (no validation, no indexes)."""
    with raw.cursor() as cur, path.open("rb") as source:
        header = source.readline().decode().strip().split(",")
        columns = sql.SQL(", ").join(sql.SQL("{} text").format(sql.Identifier(c)) for c in header)
        cur.execute("DROP TABLE IF EXISTS bench_copy_yardstick")
        cur.execute(sql.SQL("CREATE TABLE bench_copy_yardstick ({})").format(columns))
        source.seek(0)
        statement = "COPY bench_copy_yardstick FROM STDIN WITH (FORMAT csv, HEADER true)"
        with cur.copy(statement) as copy:
            while chunk := source.read(1 << 20):
                copy.write(chunk)
        copied = cur.rowcount
    raw.commit()
    return copied
