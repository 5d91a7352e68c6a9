"""Delivering the outbox through the real channels, on loopback.

Email goes through Django's SMTP backend to an aiosmtpd server; Slack, Microsoft Teams
and event webhooks go over HTTP to a ThreadingHTTPServer. Every server binds
127.0.0.1 on a port the kernel just handed out, and records what it received, so the
tests assert on what a recipient actually got: one digest per (team, audience, channel),
rows marked sent only once the channel accepted them, backoff then dead on failure,
Standard Webhooks signatures the reference library verifies, and no request at all to an
internal address unless the allowlist says so.
"""

from __future__ import annotations

import base64
import datetime as dt
import email
import email.policy
import json
import logging
import secrets
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from django.conf import settings as django_settings
from django.core import mail
from django.db import transaction
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from registry import services
from registry.models import AccessPath, AuditEvent, Notification, Team
from registry.notifications.outbox import Notice, queue
from registry.rules import errors
from registry.rules.errors import Invalid
from registry.rules.policies import current_policy
from registry.services.delivery import deliver
from tests.conftest import NOW
from tests.notifications.helpers import notice, queue_notices, rows, set_channels
from tests.support_http import Receiver
from workers.channels import http, send

Status = Notification.Status
SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"


def free_port() -> int:
    """A port nothing listens on right now (the kernel's pick for an ephemeral bind)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- a real SMTP server ---------------------------------------------------------------


@dataclass
class Mail:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage

    def part(self, subtype: str) -> str:
        body = self.message.get_body((subtype,))
        assert body is not None, f"no text/{subtype} part"
        return body.get_content()


@dataclass
class SmtpRecorder:
    """aiosmtpd handler: keeps every accepted message, or refuses them all with `reject`."""

    received: list[Mail] = field(default_factory=list)
    reject: str | None = None
    port: int = 0

    async def handle_DATA(self, server, session, envelope) -> str:
        if self.reject:
            return self.reject
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.received.append(Mail(envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[Mail]:
        return [m for m in self.received if address in m.rcpt_tos]


@pytest.fixture
def smtp(settings) -> Iterator[SmtpRecorder]:
    # aiosmtpd logs every SMTP command at INFO; the assertions say what matters.
    quiet = logging.getLogger("mail.log")
    level = quiet.level
    quiet.setLevel(logging.WARNING)
    recorder = SmtpRecorder(port=free_port())
    controller = Controller(recorder, hostname="127.0.0.1", port=recorder.port)
    controller.start()
    settings.EMAIL_BACKEND = SMTP_BACKEND
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = recorder.port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    try:
        yield recorder
    finally:
        controller.stop()
        quiet.setLevel(level)


# --- a real HTTP receiver (tests/support_http.py) ------------------------------------


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def allow_loopback(settings) -> None:
    settings.NHI_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]


# --- queueing -------------------------------------------------------------------------


def link(path: AccessPath) -> str:
    return f"{django_settings.BASE_URL}/paths/{path.pk}/"


# --- email ----------------------------------------------------------------------------


def test_one_email_digest_per_team_audience_and_channel(smtp, personas, make_path):
    teams = personas.teams
    members_paths = [make_path(name=f"billing-export-{i}") for i in range(3)]
    leads_paths = [make_path(name=f"ledger-sync-{i}") for i in range(2)]
    data_path = make_path(name="warehouse-loader", owner_team=teams.data)
    notices = [notice(teams.payments, p) for p in members_paths]
    notices += [
        notice(teams.payments, p, audience="leads", reason="review_overdue", stage=2)
        for p in leads_paths
    ]
    # data has a member but no lead: its leads' digest falls back to the team address.
    notices.append(
        notice(teams.data, data_path, audience="leads", reason="review_overdue", stage=2)
    )
    assert queue_notices(notices) == 6

    seen_pending: list[int] = []

    def send_checking_order(digest) -> None:
        ids = [n.pk for n in digest.notifications]
        statuses = set(Notification.objects.filter(pk__in=ids).values_list("status", flat=True))
        assert statuses == {Status.PENDING}, "a row was marked before its channel accepted it"
        before = len(smtp.received)
        send(digest)
        assert len(smtp.received) == before + 1, "send returned before SMTP accepted"
        seen_pending.extend(ids)

    summary = deliver(send=send_checking_order, now=NOW)

    assert summary == {"digests": 3, "leased": 6, "sent": 6}
    assert sorted(seen_pending) == sorted(n.pk for n in rows())
    assert len(smtp.received) == 3
    expected = {
        "payments@example.com": members_paths,
        "lee@example.com": leads_paths,
        "data@example.com": [data_path],
    }
    for address, paths in expected.items():
        (message,) = smtp.to(address)
        assert message.rcpt_tos == [address]
        assert "nhi-registry@localhost" in message.mail_from
        count = len(paths)
        noun = "access path needs" if count == 1 else "access paths need"
        assert message.message["Subject"].startswith(f"[NHI Registry] {count} {noun} attention")
        text, html = message.part("plain"), message.part("html")
        for path in paths:
            for part in (text, html):
                assert path.name in part
                assert link(path) in part
        assert f'href="{link(paths[0])}"' in html
    assert "a lead of" in smtp.to("lee@example.com")[0].part("plain")

    sent = rows()
    assert {n.status for n in sent} == {Status.SENT}
    assert all(n.sent_at == NOW and n.attempts == 1 and n.last_error == "" for n in sent)

    again = deliver(send=send, now=NOW + dt.timedelta(hours=1))
    assert again == {"leased": 0}
    assert len(smtp.received) == 3


def test_smtp_rejection_keeps_rows_pending_until_accepted(smtp, personas, make_path):
    path = make_path()
    queue_notices([notice(personas.teams.payments, path)])
    smtp.reject = "554 5.7.1 Message rejected by policy"

    assert deliver(send=send, now=NOW) == {"leased": 1, "retrying": 1}

    (row,) = rows()
    assert row.status == Status.PENDING
    assert row.sent_at is None
    assert "554" in row.last_error
    assert smtp.received == []

    smtp.reject = None
    later = row.next_attempt_at
    assert deliver(send=send, now=later) == {"digests": 1, "leased": 1, "sent": 1}
    row.refresh_from_db()
    assert (row.status, row.attempts, row.sent_at, row.last_error) == (Status.SENT, 2, later, "")
    assert len(smtp.to("payments@example.com")) == 1


def test_unreachable_smtp_backs_off_exponentially_then_dead(settings, personas, make_path):
    settings.EMAIL_BACKEND = SMTP_BACKEND
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = free_port()  # nothing listens there
    policy = current_policy()
    paths = [make_path(name=f"billing-export-{i}") for i in range(2)]
    queue_notices([notice(personas.teams.payments, p) for p in paths])

    now = NOW
    delays = []
    for attempt in range(1, policy.delivery_max_attempts + 1):
        summary = deliver(send=send, now=now)
        failed = rows()
        assert [n.attempts for n in failed] == [attempt, attempt]
        assert all(n.last_error.startswith("SMTP: ConnectionRefusedError") for n in failed)
        assert all(n.sent_at is None for n in failed)
        if attempt < policy.delivery_max_attempts:
            assert summary == {"leased": 2, "retrying": 2}
            assert {n.status for n in failed} == {Status.PENDING}
            due = {n.next_attempt_at for n in failed}
            assert due == {now + policy.retry_delay(attempt)}
            delays.append(due.pop() - now)
            # Not due before the backoff has passed.
            assert deliver(send=send, now=now + delays[-1] - dt.timedelta(seconds=1)) == {
                "leased": 0
            }
            now += delays[-1]
        else:
            assert summary == {"dead": 2, "leased": 2}
            assert {n.status for n in failed} == {Status.DEAD}

    base = dt.timedelta(seconds=policy.delivery_backoff_base_seconds)
    cap = dt.timedelta(seconds=policy.delivery_backoff_cap_seconds)
    assert delays == [min(base * 2**i, cap) for i in range(policy.delivery_max_attempts - 1)]
    assert delays[1] == 2 * delays[0]
    # Dead rows are never retried, and nothing was ever marked sent.
    assert deliver(send=send, now=now + dt.timedelta(days=30)) == {"leased": 0}
    assert not Notification.objects.filter(status=Status.SENT).exists()


# --- Slack and Microsoft Teams ---------------------------------------------------------


def chat_team(personas, receiver) -> Team:
    return set_channels(
        personas,
        personas.teams.payments,
        slack_webhook_url=receiver.url("/slack/services/T0001/B0001/hookpath"),
        teams_webhook_url=receiver.url("/teams/webhookb2/incoming/hookpath"),
    )


def test_slack_and_teams_receive_one_digest_each(
    receiver, allow_loopback, locmem_email, personas, make_path
):
    team = chat_team(personas, receiver)
    paths = [make_path(name=f"billing-export-{i}") for i in range(2)]

    assert queue_notices([notice(team, p) for p in paths]) == 6  # email, slack, teams
    assert deliver(send=send, now=NOW) == {"digests": 3, "leased": 6, "sent": 6}

    assert {n.status for n in rows()} == {Status.SENT}
    (slack,) = receiver.to("/slack/")
    (teams,) = receiver.to("/teams/")
    assert slack.path == "/slack/services/T0001/B0001/hookpath"
    assert slack.headers["Content-Type"] == "application/json"
    text = slack.json()["text"]
    assert text.startswith("[NHI Registry] 2 access paths need attention (payments)")
    card = teams.json()
    assert card["@type"] == "MessageCard"
    assert card["@context"] == "https://schema.org/extensions"
    assert card["title"] == card["summary"] == text.splitlines()[0]
    assert [s["activityTitle"] for s in card["sections"]] == [p.name for p in paths]
    for path in paths:
        assert path.name in text
        assert link(path) in text
        assert any(link(path) in s["text"] for s in card["sections"])
    (digest_email,) = mail.outbox
    assert digest_email.to == ["payments@example.com"]


def test_chat_receiver_answering_500_is_retried_never_sent(
    receiver, allow_loopback, locmem_email, personas, make_path
):
    team = chat_team(personas, receiver)
    receiver.status = 500
    policy = current_policy()
    queue_notices([notice(team, make_path())])

    summary = deliver(send=send, now=NOW)

    assert summary == {"digests": 1, "leased": 3, "retrying": 2, "sent": 1}
    assert len(receiver.requests) == 2  # both were tried
    chat = rows(channel__in=["slack", "teams"])
    assert len(chat) == 2
    for row in chat:
        assert row.status == Status.PENDING
        assert row.sent_at is None
        assert row.attempts == 1
        assert row.next_attempt_at == NOW + policy.retry_delay(1)
        assert "answered HTTP 500" in row.last_error
    (email_row,) = rows(channel="email")
    assert email_row.status == Status.SENT

    # Still failing on the retry: attempts grow, the backoff doubles, nothing is sent.
    retry_at = NOW + policy.retry_delay(1)
    assert deliver(send=send, now=retry_at) == {"leased": 2, "retrying": 2}
    for row in rows(channel__in=["slack", "teams"]):
        assert (row.status, row.attempts) == (Status.PENDING, 2)
        assert row.next_attempt_at == retry_at + policy.retry_delay(2)
    assert len(receiver.requests) == 4
    assert not Notification.objects.filter(channel__in=["slack", "teams"], status="sent").exists()


# --- event webhooks (Standard Webhooks) ------------------------------------------------


def test_event_webhook_is_signed_per_standard_webhooks(
    receiver, allow_loopback, personas, make_path
):
    team = set_channels(personas, personas.teams.payments, event_webhook_url=receiver.url("/ev"))
    secret = team.event_webhook_secret
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) >= 16
    path = make_path()
    event = Notice(
        team_id=team.pk,
        audience="members",
        path_id=path.pk,
        reason="access_path.expired",
        cycle=path.expires_at,
        stage=0,
        payload={
            "path": {
                "id": str(path.pk),
                "name": path.name,
                "system": path.system,
                "environment": path.environment,
            },
            "reason": "access_path.expired",
            "stage": 0,
            "occurred_at": path.expires_at.isoformat(),
        },
    )
    with transaction.atomic():
        assert queue([event], teams={team.pk: team}, now=NOW, event=True) == 1
    (row,) = rows()
    assert row.channel == Notification.Channel.WEBHOOK

    assert deliver(send=send, now=NOW) == {"digests": 1, "leased": 1, "sent": 1}

    (request,) = receiver.to("/ev")
    headers = request.headers
    assert headers["webhook-id"] == f"msg_nhi_{row.pk}"
    assert headers["webhook-timestamp"].isdigit()
    assert headers["webhook-signature"].startswith("v1,")
    verified = Webhook(secret).verify(request.body, headers)
    assert verified == {
        "type": "access_path.expired",
        "timestamp": path.expires_at.isoformat(),
        "data": {
            "id": str(path.pk),
            "name": path.name,
            "system": path.system,
            "environment": path.environment,
            "url": link(path),
        },
    }
    tampered = request.body.replace(b"access_path.expired", b"access_path.renewed")
    assert tampered != request.body
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(tampered, headers)
    other_secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    with pytest.raises(WebhookVerificationError):
        Webhook(other_secret).verify(request.body, headers)
    row.refresh_from_db()
    assert row.status == Status.SENT


# --- SSRF -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("localhost", ""),
        ("0.0.0.0", "0.0.0.0"),  # noqa: S104 - a webhook URL's host under test, not a bind
        ("[::1]", "::1"),
    ],
)
def test_webhooks_to_internal_addresses_are_refused(
    host, address, settings, receiver, locmem_email, personas, make_path
):
    settings.NHI_WEBHOOK_ALLOWED_NETWORKS = []
    team = set_channels(
        personas,
        personas.teams.payments,
        slack_webhook_url=receiver.url("/slack/hook", host=host),
        event_webhook_url=receiver.url("/ev", host=host),
    )
    path = make_path()
    queue_notices([notice(team, path)])
    queue_notices([notice(team, path, reason="access_path.lapsed", stage=4)], event=True)

    summary = deliver(send=send, now=NOW)

    assert summary == {"dead": 2, "digests": 1, "leased": 3, "sent": 1}
    refused = rows(channel__in=["slack", "webhook"])
    assert len(refused) == 2
    for row in refused:
        assert row.status == Status.DEAD  # permanent: no retries
        assert row.attempts == 1
        assert row.sent_at is None
        # a generic refusal: what the host resolved to is not told to whoever asked
        assert row.last_error == http.NOT_PUBLIC
        assert not address or address not in row.last_error
    assert receiver.requests == []
    assert deliver(send=send, now=NOW + dt.timedelta(days=1)) == {"leased": 0}
    assert receiver.requests == []


def test_a_malformed_webhook_url_fails_only_its_own_digest(
    settings, locmem_email, personas, make_path
):
    settings.NHI_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    teams = personas.teams
    bad_url = "http://127.0.0.1:99999/slack/hook"
    with pytest.raises(Invalid) as refused:
        set_channels(personas, teams.payments, slack_webhook_url=bad_url)
    assert refused.value.errors == {"slack_webhook_url": [errors.WEBHOOK_URL_PORT]}
    # Written behind the services' back (an older row, a manual fix gone wrong): delivery
    # must still fail only this digest.
    Team.objects.filter(pk=teams.payments.pk).update(slack_webhook_url=bad_url)
    payments = Team.objects.get(pk=teams.payments.pk)
    queue_notices([notice(payments, make_path())])  # email, then slack
    queue_notices([notice(teams.data, make_path(owner_team=teams.data))])  # after the slack one

    summary = deliver(send=send, now=NOW)

    assert (summary["leased"], summary["digests"], summary["sent"]) == (3, 2, 2)
    (slack,) = rows(channel="slack")
    assert slack.status != Status.SENT
    assert slack.last_error  # recorded, so it backs off and ends dead (or is dead at once)
    assert [m.to for m in mail.outbox] == [["payments@example.com"], ["data@example.com"]]


# --- audit redaction ------------------------------------------------------------------


def test_audit_never_records_webhook_urls_or_secrets(receiver, personas):
    team = personas.teams.payments
    hook_path = "/services/T0AAAA1/B0BBBB2/s3cr3tSlackHookPart"
    set_channels(
        personas,
        team,
        slack_webhook_url=receiver.url(hook_path),
        teams_webhook_url=receiver.url("/webhookb2/teamsHookCredentialPart"),
        event_webhook_url=receiver.url("/events/eventHookPathPart"),
    )
    generated = Team.objects.get(pk=team.pk).event_webhook_secret
    chosen = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    set_channels(personas, team, event_webhook_secret=chosen)

    events = list(AuditEvent.objects.filter(object_type="team", object_id=str(team.pk)))
    updates = [e for e in events if e.action == "team.updated"]
    assert len(updates) == 2
    logged = json.dumps([e.changes for e in events])
    for leaked in (
        hook_path,
        "s3cr3tSlackHookPart",
        "teamsHookCredentialPart",
        "eventHookPathPart",
        generated,
        generated.removeprefix("whsec_"),
        chosen,
        chosen.removeprefix("whsec_"),
    ):
        assert leaked not in logged
    first = updates[0].changes
    assert first["slack_webhook_url"] == ["", "http://127.0.0.1/[redacted]"]
    assert first["event_webhook_secret"] == ["", "[set]"]
    assert updates[1].changes == {"event_webhook_secret": ["[set]", "[set]"]}


def test_audit_of_a_created_team_never_records_webhook_urls_or_secrets(personas):
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    team = services.team_create(
        actor=personas.system,
        data={
            "slug": "ops",
            "name": "Ops",
            "email": "ops@example.com",
            "slack_webhook_url": "https://hooks.slack.example.com/services/T01/B02/opsHookPart",
            "event_webhook_url": "https://events.example.com/in/opsEventPart",
            "event_webhook_secret": secret,
        },
        now=NOW,
    )
    (created,) = AuditEvent.objects.filter(object_type="team", object_id=str(team.pk))
    logged = json.dumps(created.changes)
    for leaked in ("opsHookPart", "/services/T01", "opsEventPart", secret.removeprefix("whsec_")):
        assert leaked not in logged
    assert created.changes["slack_webhook_url"] == [
        None,
        "https://hooks.slack.example.com/[redacted]",
    ]
    assert created.changes["event_webhook_secret"] == [None, "[set]"]
