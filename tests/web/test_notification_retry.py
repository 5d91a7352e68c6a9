"""Retrying a dead notification from security's queue."""

from __future__ import annotations

import pytest
from django.urls import reverse

from registry.models import AuditEvent, Notification
from registry.rules import errors
from tests.assertions import records
from tests.conftest import NOW
from tests.web.helpers import text

pytestmark = pytest.mark.django_db


@pytest.fixture
def dead_notification(personas, path):
    return Notification.objects.create(
        team=personas.teams.payments,
        path=path,
        reason="review_due",
        cycle=NOW,
        status=Notification.Status.DEAD,
        attempts=8,
        next_attempt_at=NOW,
        last_error="550 mailbox unavailable",
        created_at=NOW,
    )


def test_security_retries_a_dead_notification(client, personas, dead_notification):
    client.force_login(personas.users.sam)
    queue = client.get(reverse("registry:queue-security"))
    assert "550 mailbox unavailable" in text(queue)
    url = reverse("registry:notification-retry", args=[dead_notification.pk])
    with records("notification.retried"):
        response = client.post(url)
    assert response.status_code == 302
    assert response["Location"] == reverse("registry:queue-security")
    dead_notification.refresh_from_db()
    assert (dead_notification.status, dead_notification.attempts) == ("pending", 0)
    # Retrying again: not dead any more, so refused with a message and no change.
    events = AuditEvent.objects.count()
    again = client.post(url, follow=True)
    assert errors.NOTIFICATION_NOT_DEAD in text(again)
    assert AuditEvent.objects.count() == events


@pytest.mark.parametrize("persona", ["pat", "lee", "dana", "otto"])
def test_only_security_may_retry_a_notification(client, personas, dead_notification, persona):
    client.force_login(getattr(personas.users, persona))
    events = AuditEvent.objects.count()
    url = reverse("registry:notification-retry", args=[dead_notification.pk])
    assert client.post(url).status_code == 404
    dead_notification.refresh_from_db()
    assert dead_notification.status == Notification.Status.DEAD
    assert AuditEvent.objects.count() == events


def test_retry_of_unknown_notification_is_404_and_get_is_405(client, personas, dead_notification):
    client.force_login(personas.users.sam)
    assert client.post(reverse("registry:notification-retry", args=[999999])).status_code == 404
    url = reverse("registry:notification-retry", args=[dead_notification.pk])
    assert client.get(url).status_code == 405
    dead_notification.refresh_from_db()
    assert dead_notification.status == Notification.Status.DEAD
