"""Every email has a total deadline (NHI_SMTP_TOTAL_SECONDS), not only a per-read one.

A real socket server on loopback greets and then answers one byte a second, forever:
EMAIL_TIMEOUT (per read) is never met, so without a total deadline a send would hold its
worker for as long as the server likes (the SRE measured 419 s). With it, the send
fails at the deadline, the digest is retried later with backoff, and the run returns.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from registry.models import Notification
from registry.rules.policies import current_policy
from registry.services.delivery import DeliveryFailed, Digest, deliver
from tests.conftest import NOW
from tests.notifications.helpers import notice, queue_notices, rows
from tests.support_processes import TricklingSmtp
from workers.channels import send
from workers.channels.email import send_email

TOTAL_SECONDS = 2
EMAIL_TIMEOUT = 10  # per read: the trickle never meets it


@pytest.fixture(params=[True, False], ids=["trickles-after-greeting", "trickles-its-greeting"])
def trickling_smtp(request, settings) -> Iterator[TricklingSmtp]:
    server = TricklingSmtp(greet=request.param, interval=1.0)
    server.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = EMAIL_TIMEOUT
    settings.NHI_SMTP_TOTAL_SECONDS = TOTAL_SECONDS
    settings.NHI_DELIVERY_COALESCE_SECONDS = 0
    try:
        yield server
    finally:
        server.stop()


def test_send_email_fails_at_the_total_deadline(trickling_smtp, personas, make_path):
    team = personas.teams.payments
    queue_notices([notice(team, make_path())])
    digest = Digest(team, "members", "email", rows())

    started = time.monotonic()
    with pytest.raises(DeliveryFailed) as failed:
        send_email(digest)
    elapsed = time.monotonic() - started

    assert failed.value.message == f"SMTP: no answer within {TOTAL_SECONDS} s"
    assert not failed.value.permanent  # a slow server is retried, not given up on
    assert trickling_smtp.accepted == 1
    # Ended by the total deadline, well before a single read's timeout could have.
    assert TOTAL_SECONDS <= elapsed < EMAIL_TIMEOUT, elapsed


def test_a_delivery_run_to_a_trickling_server_returns_and_backs_off(
    trickling_smtp, personas, make_path
):
    team = personas.teams.payments
    queue_notices([notice(team, make_path(name=f"billing-export-{i}")) for i in range(3)])
    policy = current_policy()

    started = time.monotonic()
    summary = deliver(send=send, now=NOW)
    elapsed = time.monotonic() - started

    assert summary == {"leased": 3, "retrying": 3}  # one digest, failed, retried later
    assert elapsed < EMAIL_TIMEOUT, elapsed
    for row in rows():
        assert row.status == Notification.Status.PENDING
        assert row.attempts == 1
        assert row.next_attempt_at == NOW + policy.retry_delay(1)
        assert row.last_error == f"SMTP: no answer within {TOTAL_SECONDS} s"
        assert row.lease_token is None  # no run holds it any more
        assert row.sent_at is None
