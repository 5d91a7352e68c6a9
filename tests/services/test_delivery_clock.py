"""A delivery run whose clock disagrees with the database's takes nothing: it dates its
leases with its own clock, so they would look expired (or everlasting) to every other
worker. The same margin and the same reading as the sweep's guard (runtime/clock.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from registry.models import Notification
from registry.services.delivery import deliver
from tests.notifications.helpers import notice, queue_notices, rows

pytestmark = pytest.mark.django_db


def test_a_run_with_a_skewed_clock_leases_nothing(settings, personas, make_path):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert queue_notices([notice(personas.teams.payments, make_path(name="billing-export"))])
    sent = []

    def ahead() -> dt.datetime:
        return timezone.now() + dt.timedelta(days=30)

    summary = deliver(send=sent.append, clock=ahead)
    assert summary == {"leased": 0, "refused_clock_skew": 1}
    assert sent == []
    [row] = rows(team=personas.teams.payments)
    assert (row.status, row.attempts, row.lease_token) == (Notification.Status.PENDING, 0, None)

    summary = deliver(send=sent.append)  # the same run with a clock that agrees
    assert summary["sent"] == 1
    assert [n.pk for digest in sent for n in digest.notifications] == [row.pk]
