"""One team cannot bury security's review queue: at most
Policy.max_pending_requests_per_team claims, and as many exceptions, wait at once."""

from __future__ import annotations

import datetime as dt

import pytest

from registry import services
from registry.models import AuditEvent, Claim, PolicyException
from registry.rules.errors import Invalid
from tests.conftest import NOW

pytestmark = pytest.mark.django_db

CAP = 2
REASON = "The payments team runs the nightly billing export that uses this."


@pytest.fixture(autouse=True)
def _small_cap(settings):
    settings.NHI_POLICY = {**settings.NHI_POLICY, "max_pending_requests_per_team": CAP}


def unowned(make_path, personas):
    return make_path(
        owner_team=None, steward_team=personas.teams.platform, justification="", ticket_url=""
    )


def test_claims_beyond_the_cap_are_refused_naming_the_team(make_path, personas):
    paths = [unowned(make_path, personas) for _ in range(CAP + 1)]
    for path in paths[:CAP]:
        services.path_claim(
            actor=personas.payments_ci, path=path, team=personas.teams.payments,
            reason=REASON, now=NOW,
        )  # fmt: skip
    events = AuditEvent.objects.count()
    with pytest.raises(Invalid) as refused:
        services.path_claim(
            actor=personas.payments_ci, path=paths[CAP], team=personas.teams.payments,
            reason=REASON, now=NOW,
        )  # fmt: skip
    assert list(refused.value.errors) == ["team"]
    assert "2 claims waiting" in refused.value.errors["team"][0]
    assert Claim.objects.filter(status="pending").count() == CAP
    assert AuditEvent.objects.count() == events  # nothing changed
    # another team is not held up by payments' queue
    services.path_claim(
        actor=personas.dana, path=paths[CAP], team=personas.teams.data, reason=REASON, now=NOW
    )
    # a decision frees a place
    first = Claim.objects.filter(team=personas.teams.payments).order_by("id").first()
    services.claim_reject(actor=personas.sam, claim=first, reason="Not yours.", now=NOW)
    services.path_claim(
        actor=personas.payments_ci, path=paths[CAP], team=personas.teams.payments,
        reason=REASON, now=NOW,
    )  # fmt: skip


def test_exceptions_beyond_the_cap_are_refused(make_path, personas):
    paths = [make_path() for _ in range(CAP + 1)]
    until = NOW + dt.timedelta(days=30)
    for path in paths[:CAP]:
        services.exception_request(
            actor=personas.lee, path=path, rule="no_expiry", reason=REASON,
            expires_at=until, now=NOW,
        )  # fmt: skip
    with pytest.raises(Invalid) as refused:
        services.exception_request(
            actor=personas.lee, path=paths[CAP], rule="no_expiry", reason=REASON,
            expires_at=until, now=NOW,
        )  # fmt: skip
    assert list(refused.value.errors) == ["path"]
    assert "Payments already has 2 exceptions waiting" in refused.value.errors["path"][0]
    assert PolicyException.objects.filter(status="pending").count() == CAP


def test_security_is_not_capped_by_its_own_queue(make_path, personas):
    paths = [make_path() for _ in range(CAP + 1)]
    for path in paths:
        services.exception_request(
            actor=personas.sam, path=path, rule="no_expiry", reason=REASON,
            expires_at=NOW + dt.timedelta(days=30), now=NOW,
        )  # fmt: skip
    assert PolicyException.objects.filter(status="pending").count() == CAP + 1
