"""rules/status.py's one-row form (`status_of`, for reads that do not build the SQL
expression, e.g. triage) gives the same status as the SQL annotation, for every status."""

from __future__ import annotations

import datetime as dt

from registry import services
from registry.rules.policies import current_policy
from registry.rules.status import status_of
from registry.selectors import path_queryset
from registry.selectors.teams import accountable_team_ids
from tests.conftest import NOW


def test_python_status_agrees_with_the_sql_status(personas, make_path, unowned_path):
    day = dt.timedelta(days=1)
    nobody = services.team_create(
        actor=personas.system, data={"slug": "empty", "name": "Empty"}, now=NOW - 200 * day
    )
    make_path(now=NOW)  # active
    make_path(now=NOW - 80 * day)  # review due
    make_path(now=NOW - 95 * day)  # overdue
    make_path(now=NOW - 120 * day)  # lapsed
    make_path(now=NOW - 100 * day, expires_at=NOW - 60 * day)  # expired before the sweep
    make_path(now=NOW - 10 * day, owner_team=nobody)  # lapsed: nobody accountable
    services.path_revoke(actor=personas.sam, path=make_path(), reason="Gone.", now=NOW)
    # Revoked and expired, confirmed disabled at the source.
    gone = services.path_revoke(actor=personas.sam, path=make_path(), reason="Gone.", now=NOW)
    expired = make_path(now=NOW - 100 * day, expires_at=NOW - 60 * day)
    for done in (gone, expired):
        services.path_confirm_source_disabled(actor=personas.sam, path=done, now=NOW)
    services.path_claim(
        actor=personas.pat,
        path=make_path(owner_team=None, justification="", ticket_url=""),
        team=personas.teams.payments,
        reason="Our billing export job runs under this account every night.",
        now=NOW,
    )
    policy = current_policy()
    answering = accountable_team_ids()
    seen = set()
    for path in path_queryset(actor=personas.sam, now=NOW):
        accountable = path.owner_team_id is None or path.owner_team_id in answering
        assert status_of(path, now=NOW, policy=policy, accountable=accountable) == path.status
        seen.add(path.status)
    assert seen == {
        "active", "review_due", "overdue", "lapsed", "expired", "revoked", "unowned",
        "claim_pending", "awaiting_source",
    }  # fmt: skip
