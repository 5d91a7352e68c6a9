"""The triage page in a real browser: a pasted secret is hashed locally (WebCrypto) and
only its SHA-256 is sent; the match is shown."""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qs

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from registry.services.identifiers import identifiers_set
from tests.browser.conftest import sign_in
from tests.conftest import NOW

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
FP = hashlib.sha256(SECRET.encode()).hexdigest()


def test_a_pasted_secret_is_hashed_in_the_browser(page, live_server, personas, make_path):
    path = make_path(name="billing-export-key")
    identifiers_set(actor=personas.sam, path=path, identifiers=[("fingerprint", FP)], now=NOW)
    sign_in(page, live_server, "pat")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Triage").click()
    expect(page).to_have_url(live_server.url + reverse("registry:triage"))

    bodies: list[str] = []
    page.on(
        "request",
        lambda r: bodies.append(r.post_data or "") if r.method == "POST" else None,
    )
    page.locator("#triage-secret").fill(SECRET + "\n")
    page.get_by_role("button", name="Look up").click()

    expect(page.locator("#triage-answer")).to_contain_text("billing-export-key")
    expect(page.locator("#triage-answer")).to_contain_text("payments@example.com")
    (body,) = bodies
    assert SECRET not in body and "wJalrXUtnFEMI" not in body
    sent = parse_qs(body)
    assert sent["value"] == [FP]
    assert sent["kind"] == ["fingerprint"]
    assert set(sent) == {"csrfmiddlewaretoken", "value", "kind"}
    expect(page.locator("#triage-secret")).to_have_value("")
