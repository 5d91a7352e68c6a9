"""Bulk decisions on the queues: claims approved or rejected, dead notifications retried.
A refused row changes nothing; the others proceed."""

from __future__ import annotations

import pytest
from django.urls import reverse

from registry import services
from registry.models import AccessPath, Claim, Notification
from registry.rules import errors
from registry.web.bulk import NOTHING_SELECTED
from tests.conftest import NOW
from tests.web.helpers import text

pytestmark = pytest.mark.django_db

CLAIM_REASON = "The payments nightly jobs run under this identity."


@pytest.fixture
def claims(personas, make_path):
    """pat's claims for payments on two paths, and sam's own for security on a third."""
    made = []
    for i, (actor, team) in enumerate(
        [
            (personas.pat, personas.teams.payments),
            (personas.sam, personas.teams.security),
            (personas.pat, personas.teams.payments),
        ]
    ):
        path = make_path(
            name=f"legacy-bot-{i}",
            owner_team=None,
            steward_team=personas.teams.platform,
            justification="",
            ticket_url="",
        )
        made.append(
            services.path_claim(actor=actor, path=path, team=team, reason=CLAIM_REASON, now=NOW)
        )
    return made


def statuses(claims):
    return [Claim.objects.get(pk=c.pk).status for c in claims]


def test_bulk_approve_refuses_the_own_claim_and_approves_the_others(client, personas, claims):
    client.force_login(personas.users.sam)
    response = client.post(
        reverse("registry:queue-claims-bulk"),
        {"action": "approve", "selected": [c.pk for c in claims]},
    )
    assert response.status_code == 200
    page = text(response)
    assert "Approve claims: 2 done, 1 refused" in page
    assert errors.SELF_REVIEW_FORBIDDEN in page
    assert statuses(claims) == ["approved", "pending", "approved"]
    owned = AccessPath.objects.filter(owner_team=personas.teams.payments, name__startswith="legacy")
    assert owned.count() == 2
    # The refused path is untouched: still waiting for another reviewer.
    assert AccessPath.objects.get(pk=claims[1].path_id).state == "claim_pending"


def test_bulk_reject_needs_a_reason_and_then_rejects_each(client, personas, claims):
    client.force_login(personas.users.sam)
    url = reverse("registry:queue-claims-bulk")
    selected = [claims[0].pk, claims[2].pk]
    response = client.post(url, {"action": "reject", "selected": selected, "reason": ""})
    assert response.status_code == 400
    assert "To reject, give a reason. Reason: This field is required." in text(response)
    assert statuses(claims) == ["pending"] * 3

    response = client.post(
        url, {"action": "reject", "selected": selected, "reason": "Platform runs these."}
    )
    assert "Reject claims: 2 done" in text(response)
    assert statuses(claims) == ["rejected", "pending", "rejected"]


def test_an_unknown_or_decided_claim_is_a_refused_row(client, personas, claims):
    client.force_login(personas.users.sam)
    services.claim_reject(actor=personas.sam, claim=claims[0], reason="Not theirs.", now=NOW)
    response = client.post(
        reverse("registry:queue-claims-bulk"),
        {"action": "approve", "selected": [claims[0].pk, "999999", "x", claims[2].pk]},
    )
    page = text(response)
    assert "1 done, 3 refused" in page
    assert "No such claim." in page
    assert statuses(claims) == ["rejected", "pending", "approved"]


@pytest.mark.parametrize(
    ("data", "message"),
    [({"action": "approve"}, NOTHING_SELECTED), ({"action": "delete", "selected": ["1"]}, "")],
)
def test_an_unusable_bulk_request_changes_nothing(client, personas, claims, data, message):
    client.force_login(personas.users.sam)
    response = client.post(reverse("registry:queue-claims-bulk"), data)
    assert response.status_code == 400
    assert message in text(response)
    assert statuses(claims) == ["pending"] * 3


def test_bulk_claims_are_security_only(client, personas, claims):
    client.force_login(personas.users.lee)
    response = client.post(
        reverse("registry:queue-claims-bulk"),
        {"action": "approve", "selected": [c.pk for c in claims]},
    )
    assert response.status_code == 404
    assert statuses(claims) == ["pending"] * 3


def _notification(personas, path, status, n):
    return Notification.objects.create(
        team=personas.teams.payments,
        path=path,
        reason="review_due",
        cycle=NOW,
        stage=n,
        status=status,
        attempts=8,
        next_attempt_at=NOW,
        last_error="550 mailbox unavailable",
        created_at=NOW,
    )


def test_bulk_retry_of_dead_notifications(client, personas, path):
    dead = [_notification(personas, path, Notification.Status.DEAD, n) for n in (1, 2)]
    sent = _notification(personas, path, Notification.Status.SENT, 3)
    client.force_login(personas.users.sam)
    response = client.post(
        reverse("registry:notification-retry-bulk"),
        {"selected": [dead[0].pk, sent.pk, dead[1].pk]},
    )
    assert response.status_code == 200
    page = text(response)
    assert "Retry: 2 done, 1 refused" in page
    assert errors.NOTIFICATION_NOT_DEAD in page
    assert [Notification.objects.get(pk=n.pk).status for n in (*dead, sent)] == [
        "pending",
        "pending",
        "sent",
    ]


def test_bulk_retry_is_security_only(client, personas, path):
    dead = _notification(personas, path, Notification.Status.DEAD, 1)
    client.force_login(personas.users.lee)
    response = client.post(reverse("registry:notification-retry-bulk"), {"selected": [dead.pk]})
    assert response.status_code == 404
    assert Notification.objects.get(pk=dead.pk).status == Notification.Status.DEAD
