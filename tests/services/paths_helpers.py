"""Helpers shared by the path service tests (tests/services/test_paths_*.py)."""

from __future__ import annotations

import datetime as dt

from registry import services
from registry.models import AccessPath, Attestation, Claim
from registry.rules.actors import Actor
from registry.selectors import path_get
from tests.conftest import NOW

DAY = dt.timedelta(days=1)
CLAIM_REASON = "Our billing export job runs under this account every night."
REVOKE_REASON = "The billing export moved to workload identity in INC-4411."


# --- helpers ------------------------------------------------------------------------


def status_of(personas, path: AccessPath, now: dt.datetime = NOW) -> str:
    return path_get(actor=personas.sam, path_id=path.pk, now=now).status


def claim_for_payments(personas, path: AccessPath) -> Claim:
    return services.path_claim(
        actor=personas.pat, path=path, team=personas.teams.payments, reason=CLAIM_REASON, now=NOW
    )


def keep(actor: Actor, path: AccessPath, *, now: dt.datetime) -> Attestation:
    return services.path_attest(
        actor=actor,
        path=path,
        decision="keep",
        still_needed=True,
        justification_accurate=True,
        least_privilege=True,
        no_human_use=True,
        now=now,
    )
