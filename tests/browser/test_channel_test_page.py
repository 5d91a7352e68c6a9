"""A channel test-send in a real browser: the page asks, a worker sends, and the page
shows the answer when it arrives (HTMX polling), without reloading."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from registry import services
from tests.browser.conftest import sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_outcome_appears_when_the_worker_has_sent_it(page, live_server, personas, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    sign_in(page, live_server, "lee")
    page.goto(live_server.url + reverse("registry:team-detail", args=["payments"]))
    page.get_by_label("Channel", exact=True).select_option("email")
    page.get_by_role("button", name="Send test message").click()

    status = page.locator("#channel-test")
    expect(status).to_contain_text("Sending a test message by Email")
    test_id = parse_qs(urlsplit(page.url).query)["channel_test"][0]
    services.team_channel_test_run(test_id=test_id)  # what the worker's task does

    expect(status).to_contain_text("Test message accepted by Email.", timeout=10_000)
    assert "channel_test" in page.url  # the page polled; it did not reload
