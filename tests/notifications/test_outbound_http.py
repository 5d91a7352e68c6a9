"""Outbound HTTP (workers/channels/http.py): a slow or hostile party fails its own call
within the deadline and never delays anyone else; internal addresses in every form are
refused without saying what they resolved to. Real sockets on loopback throughout."""

from __future__ import annotations

import ipaddress
import re
import socket
import threading
from collections.abc import Iterator

import pytest

from registry import services
from registry.models import Notification
from registry.rules.links import path_url
from registry.services.delivery import DeliveryFailed, deliver
from tests.conftest import NOW
from tests.notifications.helpers import notice, queue_notices, rows, set_channels
from tests.support_http import Receiver
from workers.channels import http, send


class Tarpit:
    """Accepts connections and answers one byte a second, forever: a hostile webhook."""

    def __init__(self, *, drip: bytes = b"H", body_bytes: int = 0) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.drip = drip
        self.body_bytes = body_bytes
        self.accepted = 0
        self._stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            try:
                if self.body_bytes:
                    head = f"HTTP/1.1 200 OK\r\nContent-Length: {self.body_bytes}\r\n\r\n"
                    conn.sendall(head.encode())
                    chunk = b"x" * 65536
                    sent = 0
                    while sent < self.body_bytes and not self._stop.is_set():
                        conn.sendall(chunk)
                        sent += len(chunk)
                    return
                while not self._stop.wait(1):
                    conn.sendall(self.drip)
            except OSError:
                return

    def stop(self) -> None:
        self._stop.set()
        self.sock.close()


@pytest.fixture
def tarpit() -> Iterator[Tarpit]:
    pit = Tarpit()
    yield pit
    pit.stop()


@pytest.fixture
def loopback_allowed(settings):
    settings.NHI_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    settings.NHI_OUTBOUND_TOTAL_SECONDS = 1
    settings.NHI_OUTBOUND_CONNECT_SECONDS = 1


def test_a_dripping_server_fails_at_the_deadline(tarpit, loopback_allowed):
    with pytest.raises(DeliveryFailed) as failed:
        http.post(tarpit.url(), b"{}", {})
    assert "no answer within 1 s" in str(failed.value)
    assert not failed.value.permanent  # retried later with backoff, like any outage


def test_only_the_first_64k_of_an_answer_is_read(loopback_allowed, settings):
    settings.NHI_OUTBOUND_TOTAL_SECONDS = 5
    pit = Tarpit(body_bytes=50 * 1024 * 1024)
    try:
        assert http.post(pit.url(), b"{}", {}) == 200
    finally:
        pit.stop()


def test_one_slow_channel_delays_no_other_teams_delivery(
    tarpit, loopback_allowed, personas, make_path, locmem_email
):
    """The tarpit team's Slack fails at its deadline; the other team's webhook, queued
    behind it in the same run, is delivered."""
    receiver = Receiver()
    receiver.start()
    try:
        slow = set_channels(personas, personas.teams.payments, slack_webhook_url=tarpit.url())
        fine = set_channels(
            personas, personas.teams.platform, slack_webhook_url=receiver.url("/slack")
        )
        queue_notices([notice(slow, make_path()), notice(fine, make_path())])
        summary = deliver(send=send, now=NOW)
    finally:
        receiver.stop()
    assert len(receiver.to("/slack")) == 1
    slack = {row.team_id: row for row in rows(channel="slack")}
    assert slack[fine.pk].status == Notification.Status.SENT
    assert slack[slow.pk].status == Notification.Status.PENDING  # to be retried
    assert "no answer within" in slack[slow.pk].last_error
    assert summary["sent"] >= 2  # both teams' email and the good Slack digest


@pytest.mark.parametrize(
    "address",
    [
        "100.64.0.1",  # carrier-grade NAT
        "100.100.100.200",  # a cloud metadata endpoint inside it
        "169.254.169.254",
        "10.1.2.3",
        "192.168.0.1",
        "127.0.0.1",
        "0.0.0.0",  # noqa: S104 - an address under test, not a bind
        "224.0.0.1",
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:10.0.0.1",  # IPv4-mapped
        "::ffff:127.0.0.1",
        "2002:0a00:0001::1",  # 6to4 around 10.0.0.1
        "2001:0:4136:e378:8000:63bf:f5ff:fffe",  # Teredo whose client is 10.0.0.1
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
    ],
)
def test_non_public_addresses_are_not_public(address):
    assert not http.is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:4700:4700::1111", "8.8.8.8"])
def test_public_addresses_are(address):
    assert http.is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("host", ["100.100.100.200", "[::ffff:127.0.0.1]", "[2002:7f00:1::1]"])
def test_refusal_names_no_address(host, settings):
    settings.NHI_WEBHOOK_ALLOWED_NETWORKS = []
    with pytest.raises(DeliveryFailed) as refused:
        http.post(f"http://{host}:9/hook", b"{}", {})
    assert refused.value.permanent
    assert str(refused.value) == http.NOT_PUBLIC


# --- chat markup ----------------------------------------------------------------------

HOSTILE = (
    "<!channel> deploy <https://evil.example|Open the registry> "
    "[login](https://evil.example) <at>Security</at> *now*"
)


def test_chat_messages_carry_names_as_text_not_markup(
    loopback_allowed, personas, make_path, locmem_email
):
    receiver = Receiver()
    receiver.start()
    try:
        team = set_channels(
            personas,
            personas.teams.payments,
            slack_webhook_url=receiver.url("/slack"),
            teams_webhook_url=receiver.url("/teams"),
        )
        path = make_path(name=HOSTILE)
        queue_notices([notice(team, path)])
        deliver(send=send, now=NOW)
    finally:
        receiver.stop()
    (slack,) = receiver.to("/slack")
    text = slack.json()["text"]
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text
    assert "<https://evil.example|" not in text
    # the one link is the registry's own
    assert re.findall(r"<(https?://[^|>]+)\|", text) == [path_url(path.pk)]
    (teams,) = receiver.to("/teams")
    section = teams.json()["sections"][0]
    assert "<at>" not in section["activityTitle"] and "&lt;at&gt;" in section["activityTitle"]
    assert "[login](" not in section["activityTitle"] and r"\[login\]\(" in section["activityTitle"]
    assert re.findall(r"(?<!\\)\]\((https?://[^)]+)\)", section["text"]) == [path_url(path.pk)]


def test_a_test_send_to_a_slow_channel_never_holds_the_page(
    tarpit, loopback_allowed, personas, client
):
    """The page only queues the test: the slow party is called by a worker, whose
    call ends at its deadline; the page that asked never waited on it."""
    set_channels(personas, personas.teams.payments, slack_webhook_url=tarpit.url())
    client.force_login(personas.users.lee)
    response = client.post("/teams/payments/channels/test/", {"channel": "slack"})
    assert response.status_code == 302
    assert tarpit.accepted == 0  # nothing reached the slow party during the request
    test_id = response["Location"].split("channel_test=")[1]
    outcome = services.team_channel_test_run(test_id=test_id)  # the worker's half
    assert outcome["state"] == "failed" and "no answer within 1 s" in outcome["message"]
    assert tarpit.accepted == 1
    page = client.get(f"/teams/payments/channels/test/{test_id}/").content.decode()
    assert "no answer within 1 s" in page


def test_email_has_a_deadline_too(settings, personas, make_path):
    """A mail server that accepts and never answers fails its digest at EMAIL_TIMEOUT."""
    pit = Tarpit(drip=b"")  # accepts, never greets
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", pit.port, 1
    settings.EMAIL_USE_TLS = False
    try:
        team = personas.teams.payments
        queue_notices([notice(team, make_path())])
        deliver(send=send, now=NOW)
    finally:
        pit.stop()
    (row,) = rows(channel="email")
    assert row.status == Notification.Status.PENDING  # retried later, like any outage
    assert "timed out" in row.last_error.lower()
