"""Helpers shared by the claim and transfer service tests
(tests/services/test_ownership_*.py)."""

from __future__ import annotations

import datetime as dt

from registry import services
from registry.models import AccessPath, Claim, Transfer
from registry.rules.actors import Actor
from registry.selectors import path_get
from tests.conftest import NOW

DAY = dt.timedelta(days=1)
LATER = NOW + DAY
CLAIM_REASON = "Our billing export job runs under this account every night."
DATA_CLAIM_REASON = "The warehouse loader reads invoices through this account hourly."
TRANSFER_REASON = "The data team now runs the billing export pipeline."
DECISION_REASON = "Confirmed with the steward: the export job is theirs."


# --- helpers ------------------------------------------------------------------------


def status_of(personas, path: AccessPath, now: dt.datetime = LATER) -> str:
    return path_get(actor=personas.sam, path_id=path.pk, now=now).status


def actor_named(personas, who: str) -> Actor:
    if who == "gwen":  # growth's lead: a lead, but of another team
        return Actor.for_user(personas.users.gwen)
    if who == "data_ci":
        return Actor.integration(personas.teams.data, token_id="tok_data", name="ci")
    return getattr(personas, who)


def claim(personas, path, *, who="pat", team="payments", reason=CLAIM_REASON, **kwargs) -> Claim:
    return services.path_claim(
        actor=actor_named(personas, who),
        path=path,
        team=getattr(personas.teams, team),
        reason=reason,
        now=NOW,
        **kwargs,
    )


def offer_to_data(personas, path) -> Transfer:
    return services.path_transfer(
        actor=personas.lee, path=path, to_team=personas.teams.data, reason=TRANSFER_REASON, now=NOW
    )
