"""Team pages: members and leads, channels with a real test-send (a loopback SMTP server
and a loopback HTTP receiver), and API tokens shown once and stored only as a hash.

Leads of the team and security manage it; members read it; anyone else gets 404.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.contrib.auth import get_user_model
from standardwebhooks.webhooks import Webhook

from registry import services
from registry.models import AccessPath, ApiToken, AuditEvent, Team
from registry.rules import errors
from registry.rules.token_format import hash_token
from registry.services.security import SECURITY_ACTIONS
from tests.conftest import NOW
from tests.support_processes import SmtpSink, free_port

pytestmark = pytest.mark.django_db

PAGE = "/teams/payments/"
SLACK_URL = "https://hooks.slack.com/services/T000/B000/XXXX"


def page_of(client, user, url: str = PAGE):
    client.force_login(user)
    return client.get(url)


def team_rows() -> dict:
    """What a refused request must leave as it was (signing in, and the refusal's own
    security event, are not changes)."""
    return {
        "teams": list(Team.objects.order_by("pk").values()),
        "tokens": list(ApiToken.objects.order_by("pk").values()),
        "paths": AccessPath.objects.count(),
        "audit": AuditEvent.objects.exclude(action__in=SECURITY_ACTIONS).count(),
    }


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("seq"))


def create_token(client, user, *, name="ci deploys", scopes=("read",), status=201):
    client.force_login(user)
    response = client.post(
        f"{PAGE}tokens/", {"name": name, "scopes": list(scopes), "expires_in_days": 90}
    )
    assert response.status_code == status
    return response


def bearer(client, secret: str):
    client.logout()
    return client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {secret}")


# --- the page -------------------------------------------------------------------------


def test_members_with_the_lead_marked_and_channel_states(client, personas):
    page = page_of(client, personas.users.pat).content.decode()
    assert "<h1>Payments" in page
    assert (
        '<tr><td>lee <small class="muted">lee@example.com</small></td>'
        "<td><strong>Lead</strong></td>" in page
    )
    assert '<tr><td>pat <small class="muted">pat@example.com</small></td><td>Member</td>' in page
    assert "sam@example.com" not in page  # not a member of payments
    assert 'Email: <span class="badge status-active">Set up</span>' in page
    for label in ("Slack", "Microsoft Teams", "Webhook"):
        assert f'{label}: <span class="badge status-expired">Not set up</span>' in page


@pytest.mark.parametrize(("who", "manages"), [("lee", True), ("sam", True), ("pat", False)])
def test_who_sees_tokens_and_the_test_button(client, personas, who, manages):
    response = page_of(client, getattr(personas.users, who))
    assert response.status_code == 200
    page = response.content.decode()
    for marker in ("API tokens", "Send test message", "Create token", "Save channels"):
        assert (marker in page) is manages, marker


@pytest.mark.parametrize("who", ["dana", "otto", "gwen"])
def test_others_get_404_for_the_page_and_every_action(client, personas, who):
    user = getattr(personas.users, who)
    token, _ = services.token_create(
        actor=personas.lee, team=personas.teams.payments, name="ci", scopes=["read"], now=NOW
    )
    before = team_rows()
    assert page_of(client, user).status_code == 404
    assert client.get(f"{PAGE}reminders/").status_code == 404
    posts = {
        f"{PAGE}tokens/": {"name": "x", "scopes": ["read"], "expires_in_days": 90},
        f"{PAGE}tokens/{token.pk}/revoke/": {"reason": "Leaked in a log."},
        f"{PAGE}channels/": {"email": "evil@example.com"},
        f"{PAGE}channels/test/": {"channel": "email"},
    }
    for url, data in posts.items():
        assert client.post(url, data).status_code == 404, url
    assert team_rows() == before


def test_a_member_cannot_manage_and_nothing_changes(client, personas):
    token, _ = services.token_create(
        actor=personas.lee, team=personas.teams.payments, name="ci", scopes=["read"], now=NOW
    )
    before = team_rows()
    client.force_login(personas.users.pat)
    posts = {
        f"{PAGE}tokens/": {"name": "mine", "scopes": ["read"], "expires_in_days": 90},
        f"{PAGE}tokens/{token.pk}/revoke/": {"reason": "Leaked in a log."},
        f"{PAGE}channels/": {"email": "payments@example.com", "slack_webhook_url": SLACK_URL},
        f"{PAGE}channels/test/": {"channel": "email"},
    }
    for url, data in posts.items():
        response = client.post(url, data)
        assert response.status_code == 403, url
        assert "nhir_" not in response.content.decode()
    assert team_rows() == before


def test_pages_need_sign_in(client, personas):
    response = client.get(PAGE)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
    assert client.post(f"{PAGE}tokens/", {"name": "x"}).status_code == 302
    assert not ApiToken.objects.exists()


# --- tokens ---------------------------------------------------------------------------


def test_a_lead_creates_a_token_shown_once_and_stored_as_a_hash(client, personas):
    response = create_token(client, personas.users.lee)
    assert response["Cache-Control"] == "no-store"
    token = ApiToken.objects.get()
    page = response.content.decode()
    secret = response.context["new_token"]["secret"]
    assert secret.startswith("nhir_")
    assert f'value="{secret}"' in page
    assert page.count(secret) == 1
    assert (token.name, token.team, token.scopes) == (
        "ci deploys",
        personas.teams.payments,
        ["read"],
    )
    assert token.token_hash == hash_token(secret)
    assert secret.startswith(token.prefix)

    # Only a hash is kept: the token is in no column of the token, its path or the log.
    stored = [
        *ApiToken.objects.values_list(),
        *AccessPath.objects.values_list(),
        *AuditEvent.objects.values_list(),
    ]
    assert not any(secret in str(value) for row in stored for value in row)
    assert events("api_token.created")[-1].actor_label.startswith("lee")

    again = page_of(client, personas.users.lee)
    assert again.status_code == 200
    assert secret not in again.content.decode()
    assert token.prefix in again.content.decode()

    me = bearer(client, secret)
    assert me.status_code == 200
    assert me.json()["kind"] == "token"
    assert me.json()["token"]["team"] == "payments"
    assert me.json()["token"]["prefix"] == token.prefix


def test_revoking_a_token_stops_it(client, personas):
    secret = create_token(client, personas.users.lee).context["new_token"]["secret"]
    token = ApiToken.objects.get()
    assert bearer(client, secret).status_code == 200

    client.force_login(personas.users.lee)
    response = client.post(f"{PAGE}tokens/{token.pk}/revoke/", {"reason": "Leaked in a CI log."})
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert token.access_path.state == AccessPath.State.REVOKED
    (event,) = events("api_token.revoked")
    assert event.reason == "Leaked in a CI log."
    assert bearer(client, secret).status_code == 401
    # The page now shows it revoked, with no revoke form.
    page = page_of(client, personas.users.lee).content.decode()
    assert '<span class="badge status-revoked">Revoked</span>' in page
    assert f"tokens/{token.pk}/revoke/" not in page


def test_revoking_needs_a_reason(client, personas):
    create_token(client, personas.users.lee)
    token = ApiToken.objects.get()
    before = team_rows()
    response = client.post(f"{PAGE}tokens/{token.pk}/revoke/", {"reason": "  "})
    assert response.status_code == 302
    assert team_rows() == before


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"scopes": ["read"], "expires_in_days": 90}, "name"),
        ({"name": "ci", "expires_in_days": 90}, "scopes"),
        ({"name": "ci", "scopes": ["admin"], "expires_in_days": 90}, "scopes"),
        ({"name": "ci", "scopes": ["read"], "expires_in_days": 0}, "expires_in_days"),
        ({"name": "ci", "scopes": ["read"], "expires_in_days": 400}, "expires_in_days"),
    ],
)
def test_an_invalid_token_form_is_400_and_creates_nothing(client, personas, data, field):
    before = team_rows()
    client.force_login(personas.users.lee)
    response = client.post(f"{PAGE}tokens/", data)
    assert response.status_code == 400
    assert response.context["token_form"].errors[field]
    assert response.context["new_token"] is None
    assert "nhir_" not in response.content.decode()
    assert team_rows() == before


def test_security_may_create_a_token_for_any_team(client, personas):
    secret = create_token(client, personas.users.sam, scopes=("read", "write")).context[
        "new_token"
    ]["secret"]
    me = bearer(client, secret)
    assert me.status_code == 200
    assert me.json()["token"]["scopes"] == ["read", "write"]


# --- channels -------------------------------------------------------------------------


def test_a_lead_sets_the_slack_webhook(client, personas):
    client.force_login(personas.users.lee)
    response = client.post(
        f"{PAGE}channels/",
        {"email": "payments@example.com", "slack_webhook_url": SLACK_URL},
    )
    assert response.status_code == 302
    team = Team.objects.get(slug="payments")
    assert team.slack_webhook_url == SLACK_URL
    assert team.email == "payments@example.com"
    (event,) = events("team.updated")
    assert event.actor_label.startswith("lee")
    assert event.changes == {"slack_webhook_url": ["", "https://hooks.slack.com/[redacted]"]}
    assert "XXXX" not in json.dumps(event.changes)
    page = page_of(client, personas.users.lee).content.decode()
    assert 'Slack: <span class="badge status-active">Set up</span>' in page


def test_an_invalid_channel_url_is_400_and_saves_nothing(client, personas):
    before = team_rows()
    client.force_login(personas.users.lee)
    response = client.post(
        f"{PAGE}channels/",
        {"email": "payments@example.com", "slack_webhook_url": "not a url"},
    )
    assert response.status_code == 400
    assert team_rows() == before


@pytest.fixture
def smtp_sink(settings) -> Iterator[SmtpSink]:
    sink = SmtpSink()
    sink.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = sink.port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    try:
        yield sink
    finally:
        sink.stop()


def send_test_message(client, slug: str, channel: str) -> str:
    """Ask for a test message, let the worker send it (as the channel_test task does),
    and return the team page the browser then polls."""
    response = client.post(f"/teams/{slug}/channels/test/", {"channel": channel})
    assert response.status_code == 302, response.content
    test_id = response["Location"].split("channel_test=")[1]
    pending = client.get(response["Location"]).content.decode()
    assert "Sending a test message" in pending and 'hx-trigger="every 1s"' in pending
    services.team_channel_test_run(test_id=test_id)
    return client.get(f"/teams/{slug}/channels/test/{test_id}/").content.decode()


def test_email_test_send_reaches_a_real_smtp_server(client, personas, smtp_sink):
    client.force_login(personas.users.lee)
    assert "Test message accepted by Email." in send_test_message(client, "payments", "email")
    (mail,) = smtp_sink.handler.messages
    assert mail.recipients == ("payments@example.com",)
    assert "Test message" in mail.body
    (event,) = events("team.channel_tested")
    assert event.changes == {"channel": [None, "email"], "accepted": [None, True]}
    assert event.reason == ""
    assert event.actor_label.startswith("lee")


def test_email_test_send_to_a_dead_smtp_server_is_400_and_audited(client, personas, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = free_port()  # nothing listens there
    settings.EMAIL_USE_TLS = False
    client.force_login(personas.users.lee)
    page = send_test_message(client, "payments", "email")
    prefix = errors.CHANNEL_TEST_FAILED.format(error="SMTP: ConnectionRefusedError")
    assert prefix in page
    (event,) = events("team.channel_tested")
    assert event.changes == {"channel": [None, "email"], "accepted": [None, False]}
    assert event.reason.startswith("SMTP: ConnectionRefusedError")


def test_an_unconfigured_channel_is_400(client, personas, smtp_sink):
    client.force_login(personas.users.lee)
    response = client.post(f"{PAGE}channels/test/", {"channel": "slack"})
    assert response.status_code == 400
    assert errors.CHANNEL_NOT_CONFIGURED.format(channel="Slack") in response.content.decode()
    assert smtp_sink.handler.messages == []
    assert events("team.channel_tested") == []  # nothing was sent, so nothing to record


def test_an_unknown_channel_is_400(client, personas):
    before = team_rows()
    client.force_login(personas.users.lee)
    assert client.post(f"{PAGE}channels/test/", {"channel": "pager"}).status_code == 400
    assert team_rows() == before


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """A loopback HTTP server recording every POST, answering 204."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with outer._lock:
                    outer.requests.append(Received(self.path, dict(self.headers.items()), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/events"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    server._thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()
        server._thread.join(10)


def test_webhook_test_send_is_signed_per_standard_webhooks(client, personas, receiver, settings):
    settings.NHI_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    team = services.team_update(
        actor=personas.system,
        team=personas.teams.payments,
        changes={"event_webhook_url": receiver.url},
        now=NOW,
    )
    client.force_login(personas.users.lee)
    page = client.get(PAGE).content.decode()
    assert 'Webhook: <span class="badge status-active">Set up</span>' in page
    assert "accepted by Webhook" in send_test_message(client, "payments", "webhook")
    (request,) = receiver.requests
    assert request.path == "/events"
    assert request.headers["webhook-id"].startswith("msg_nhi_test_")
    assert request.headers["webhook-signature"].startswith("v1,")
    assert request.headers["webhook-timestamp"].isdigit()
    payload = Webhook(team.event_webhook_secret).verify(request.body, request.headers)
    assert payload["type"] == "channel_test"
    # About no real path: a receiver cannot mistake it for a real lifecycle event.
    assert set(payload["data"]) == {"url"}
    assert not AccessPath.objects.exists()
    (event,) = events("team.channel_tested")
    assert event.changes == {"channel": [None, "webhook"], "accepted": [None, True]}


def test_webhook_test_send_to_an_internal_address_is_refused(client, personas, receiver, settings):
    settings.NHI_WEBHOOK_ALLOWED_NETWORKS = []
    services.team_update(
        actor=personas.system,
        team=personas.teams.payments,
        changes={"event_webhook_url": receiver.url},
        now=NOW,
    )
    client.force_login(personas.users.lee)
    page = send_test_message(client, "payments", "webhook")
    assert "not a public internet address" in page
    assert "resolves to" not in page
    assert receiver.requests == []
    (event,) = events("team.channel_tested")
    assert event.changes["accepted"] == [None, False]


def test_security_may_test_any_teams_channel(client, personas, smtp_sink):
    client.force_login(personas.users.sam)
    assert "accepted by Email" in send_test_message(client, "data", "email")
    (mail,) = smtp_sink.handler.messages
    assert mail.recipients == ("data@example.com",)


def test_a_team_without_any_email_shows_email_not_set_up(client, personas):
    quiet = services.team_create(
        actor=personas.system, data={"slug": "quiet", "name": "Quiet"}, now=NOW
    )
    user = get_user_model().objects.create_user("quinn", "", "x")
    services.membership_add(actor=personas.system, team=quiet, user=user, role="lead", now=NOW)
    response = page_of(client, user, "/teams/quiet/")
    page = response.content.decode()
    assert 'Email: <span class="badge status-expired">Not set up</span>' in page
    assert client.post("/teams/quiet/channels/test/", {"channel": "email"}).status_code == 400
