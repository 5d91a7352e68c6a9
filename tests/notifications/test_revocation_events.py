"""Revocation and expiry tell integrations what they need to disable a credential
downstream: signed Standard Webhooks received over real HTTP on loopback, carrying the
path's identifiers, kind, system, environment, external id, owner and steward."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from standardwebhooks.webhooks import Webhook

from registry import services
from registry.models import AccessPath, Notification, Team
from registry.notifications.events import EVENT_FIELDS, event_notices
from registry.rules.links import path_url
from registry.services.delivery import deliver
from registry.services.sweep import sweep
from tests.conftest import NOW
from tests.support_http import Receiver
from workers.channels import send

DAY = dt.timedelta(days=1)
KEY_ID = "AKIAIOSFODNN7EXAMPLE"
FINGERPRINT = "sha256:" + "ab" * 32


@pytest.fixture
def receiver(settings) -> Iterator[Receiver]:
    settings.NHI_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    server = Receiver()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def with_webhook(personas, team: Team, receiver: Receiver) -> Team:
    return services.team_update(
        actor=personas.system,
        team=team,
        changes={"event_webhook_url": receiver.url(f"/{team.slug}")},
        now=NOW,
    )


@pytest.fixture
def hooked(personas, receiver):
    """payments (owner) and platform (steward) both listen for events."""
    return (
        with_webhook(personas, personas.teams.payments, receiver),
        with_webhook(personas, personas.teams.platform, receiver),
    )


@pytest.fixture
def key_path(make_path, personas) -> AccessPath:
    return make_path(
        name="billing-export-key",
        kind=AccessPath.Kind.API_TOKEN,
        risk_tier=AccessPath.RiskTier.MEDIUM,
        external_id="iam-user/billing-export",
        steward_team=personas.teams.platform,
        identifiers=[
            {"kind": "key_id", "value": KEY_ID},
            {"kind": "fingerprint", "value": FINGERPRINT},
            {"kind": "principal", "value": "arn:aws:iam::123456789012:user/billing-export"},
        ],
    )


def received(receiver: Receiver, team: Team) -> dict:
    """The one verified event body the team's webhook received."""
    (request,) = receiver.to(f"/{team.slug}")
    return Webhook(team.event_webhook_secret).verify(request.body, request.headers)


def expected_data(path: AccessPath, at: dt.datetime) -> dict:
    return {
        "id": str(path.pk),
        "name": path.name,
        "kind": "api_token",
        "system": "aws",
        "environment": "prod",
        "external_id": "iam-user/billing-export",
        "owner_team": "payments",
        "steward_team": "platform",
        "identifiers": [
            {"kind": "fingerprint", "value": "ab" * 32},
            {"kind": "key_id", "value": KEY_ID},
            {"kind": "principal", "value": "arn:aws:iam::123456789012:user/billing-export"},
        ],
        "occurred_at": at.isoformat(),
        "url": path_url(path.pk),
    }


def test_revoking_tells_the_owner_and_the_steward_with_every_identifier(
    personas, hooked, key_path, receiver
):
    payments, platform = hooked
    revoked_at = NOW + DAY
    services.path_revoke(
        actor=personas.lee, path=key_path, reason="The export job was retired.", now=revoked_at
    )

    assert deliver(send=send, now=revoked_at)["sent"] == 2
    for team in (payments, platform):
        body = received(receiver, team)
        assert body == {
            "type": Notification.Reason.EVENT_REVOKED,
            "timestamp": revoked_at.isoformat(),
            "data": expected_data(key_path, revoked_at),
        }
    # Names of the credential only: nothing that is a credential.
    assert "secret" not in str(body).lower()


def test_the_sweep_publishes_expiry_with_the_same_payload(personas, hooked, make_path, receiver):
    payments, platform = hooked
    path = make_path(
        name="billing-export-key",
        kind=AccessPath.Kind.API_TOKEN,
        risk_tier=AccessPath.RiskTier.MEDIUM,
        external_id="iam-user/billing-export",
        steward_team=personas.teams.platform,
        expires_at=NOW + 10 * DAY,
        identifiers=[
            {"kind": "key_id", "value": KEY_ID},
            {"kind": "fingerprint", "value": FINGERPRINT},
            {"kind": "principal", "value": "arn:aws:iam::123456789012:user/billing-export"},
        ],
    )
    after = NOW + 11 * DAY

    summary = sweep(now=after)

    assert summary["expired"] == 1 and summary["events_queued"] == 2
    assert "events_queued" not in sweep(now=after)  # a second run adds nothing
    assert Notification.objects.filter(reason=Notification.Reason.EVENT_EXPIRED).count() == 2
    deliver(send=send, now=after)
    for team in (payments, platform):
        body = received(receiver, team)
        assert body["type"] == Notification.Reason.EVENT_EXPIRED
        assert body["timestamp"] == path.expires_at.isoformat()
        assert body["data"] == expected_data(path, path.expires_at)


def test_expiring_one_path_by_hand_publishes_its_event(personas, hooked, key_path, receiver):
    payments, _ = hooked
    services.path_expire(actor=personas.sam, path=key_path, now=key_path.expires_at + DAY)
    deliver(send=send, now=key_path.expires_at + DAY)
    body = received(receiver, payments)
    assert body["type"] == Notification.Reason.EVENT_EXPIRED
    assert body["data"]["identifiers"][1] == {"kind": "key_id", "value": KEY_ID}


def test_a_retired_identifier_is_not_in_the_event(personas, hooked, key_path, receiver):
    payments, _ = hooked
    services.path_update(
        actor=personas.lee,
        path=key_path,
        changes={"identifiers": [{"kind": "key_id", "value": KEY_ID}]},
        now=NOW,
    )
    services.path_revoke(actor=personas.lee, path=key_path, reason="Key rotated away.", now=NOW)
    deliver(send=send, now=NOW)
    assert received(receiver, payments)["data"]["identifiers"] == [
        {"kind": "key_id", "value": KEY_ID}
    ]


def test_no_event_webhook_no_event(personas, key_path):
    services.path_revoke(actor=personas.lee, path=key_path, reason="Job retired.", now=NOW)
    assert not Notification.objects.filter(reason=Notification.Reason.EVENT_REVOKED).exists()


def test_a_batch_of_events_reads_identifiers_once(
    personas, hooked, make_path, django_assert_num_queries
):
    paths = [
        make_path(
            name=f"job-{i}",
            risk_tier=AccessPath.RiskTier.MEDIUM,
            steward_team=personas.teams.platform,
            identifiers=[{"kind": "key_id", "value": f"AKIAIOSFODNN7EXAMPL{i}"}],
        )
        for i in range(6)
    ]
    rows = list(AccessPath.objects.filter(pk__in=[p.pk for p in paths]).values(*EVENT_FIELDS))
    teams = {team.pk: team for team in hooked}
    with django_assert_num_queries(1):
        notices = event_notices(
            rows,
            Notification.Reason.EVENT_EXPIRED,
            teams=teams,
            cycle_of=lambda r: NOW,
            occurred_at_of=lambda r: NOW,
        )
    assert len(notices) == 12  # owner and steward of each
    assert {n.payload["path"]["identifiers"][0]["value"] for n in notices} == {
        f"AKIAIOSFODNN7EXAMPL{i}" for i in range(6)
    }
