"""Signing in through a real OpenID provider on loopback (oidc-provider-mock, an authlib
provider), in headless Chromium: code flow with PKCE and a nonce, the person lands in
the teams their groups map to, loses a team when they leave its group, signs out at the
provider; a replayed callback and local passwords turned off are refused."""

from __future__ import annotations

import base64
import hashlib
import io
import re
import threading
from collections.abc import Iterator
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import werkzeug.serving
from django.urls import reverse
from oidc_provider_mock import app as provider_app
from playwright.sync_api import expect

from registry.models import AuditEvent, Membership, ProviderMembership
from registry.runtime import oidc_keys
from tests.browser.conftest import screenshot

pytestmark = pytest.mark.django_db(transaction=True)

PROVIDER_NAME = "Acme SSO"
CLIENT_ID = "nhi-registry"
RULES = {
    "nhi-payments": ["payments", "member"],
    "nhi-payments-leads": ["payments", "lead"],
    "nhi-security": ["security", "lead"],
}


class TokenRequests:
    """WSGI middleware that keeps the token requests' form fields, to check PKCE."""

    def __init__(self, app) -> None:
        self.app, self.forms = app, []

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == "/oauth2/token":
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            self.forms.append(parse_qs(body.decode()))
            environ["wsgi.input"] = io.BytesIO(body)
        return self.app(environ, start_response)


@pytest.fixture
def provider(monkeypatch) -> Iterator[SimpleNamespace]:
    """The provider on a free loopback port, stopped after the test."""
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")  # plain http on loopback
    recorder = TokenRequests(provider_app(require_nonce=True))
    server = werkzeug.serving.make_server("localhost", 0, recorder, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.start()
    url = f"http://localhost:{server.server_port}"
    oidc_keys.forget_cached()
    try:
        yield SimpleNamespace(url=url, tokens=recorder.forms)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
        oidc_keys.forget_cached()


@pytest.fixture
def oidc(settings, provider):
    settings.NHI_OIDC_ISSUER = provider.url
    settings.NHI_OIDC_PROVIDER_NAME = PROVIDER_NAME
    settings.NHI_OIDC_GROUP_RULES = RULES
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = "loopback-test-client"
    settings.AUTHENTICATION_BACKENDS = [
        *settings.AUTHENTICATION_BACKENDS,
        "registry.web.oidc.ProviderBackend",
    ]
    return provider


def set_groups(provider, sub: str, groups: list[str]) -> None:
    claims = {"email": f"{sub}@example.com", "preferred_username": sub, "groups": groups}
    requests.put(f"{provider.url}/users/{sub}", json=claims, timeout=5).raise_for_status()


def sign_in_with_provider(page, live_server, sub: str) -> list[str]:
    """Click through the sign-in; returns the authorization requests the browser made."""
    authorizations: list[str] = []
    page.on(
        "request",
        lambda r: authorizations.append(r.url) if "/oauth2/authorize?" in r.url else None,
    )
    page.goto(live_server.url + reverse("login"))
    page.get_by_role("link", name=f"Sign in with {PROVIDER_NAME}").click()
    page.get_by_placeholder("sub").fill(sub)
    with page.expect_navigation(url=f"{live_server.url}/**"):
        page.get_by_role("button", name="Authorize").click()
    return authorizations


def memberships(username: str) -> dict[str, str]:
    rows = Membership.objects.filter(user__username=username, ended_at__isnull=True)
    return {m.team.slug: m.role for m in rows.select_related("team")}


def test_a_person_signs_in_and_lands_in_their_teams(page, live_server, personas, oidc):
    set_groups(oidc, "ada", ["nhi-payments-leads", "nhi-payments", "unrelated"])
    authorizations = sign_in_with_provider(page, live_server, "ada")
    expect(page.locator(".signout")).to_be_visible()
    assert memberships("ada") == {"payments": "lead"}
    assert ProviderMembership.objects.filter(membership__user__username="ada").count() == 1

    # PKCE S256: the verifier sent with the code hashes to the challenge sent before it.
    query = parse_qs(urlsplit(authorizations[0]).query)
    assert query["code_challenge_method"] == ["S256"] and query["nonce"][0]
    [token_request] = oidc.tokens
    verifier = token_request["code_verifier"][0]
    digest = hashlib.sha256(verifier.encode()).digest()
    assert base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == query["code_challenge"][0]

    page.goto(live_server.url + reverse("registry:team-detail", args=["payments"]))
    expect(page.get_by_role("row", name="ada")).to_contain_text("Lead")
    screenshot(page, "oidc-signed-in-team")
    assert AuditEvent.objects.filter(action="auth.login", actor_label="ada").exists()


def test_leaving_a_group_ends_the_membership_at_the_next_sign_in(page, live_server, personas, oidc):
    set_groups(oidc, "ada", ["nhi-payments", "nhi-security"])
    sign_in_with_provider(page, live_server, "ada")
    assert memberships("ada") == {"payments": "member", "security": "lead"}

    # Signing out here offers the provider's end-session page, which comes back to sign-in.
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("link", name=f"Sign out of {PROVIDER_NAME} too").click()
    expect(page).to_have_url(re.compile(re.escape(oidc.url + "/oauth2/end_session")))
    page.get_by_role("button").first.click()
    expect(page).to_have_url(live_server.url + reverse("login"))

    set_groups(oidc, "ada", ["nhi-payments"])
    sign_in_with_provider(page, live_server, "ada")
    assert memberships("ada") == {"payments": "member"}
    ended = AuditEvent.objects.get(action="membership.ended")
    assert ended.actor_label == f"identity provider {oidc.url}"
    assert "security" in ended.reason


def test_a_replayed_callback_signs_nobody_in(browser, page, live_server, personas, oidc):
    set_groups(oidc, "ada", ["nhi-payments"])
    callbacks: list[str] = []
    page.on("request", lambda r: callbacks.append(r.url) if "/oidc/callback/" in r.url else None)
    sign_in_with_provider(page, live_server, "ada")
    assert callbacks
    # The same code, state and (behind them) nonce, from another browser: refused.
    other = browser.new_context().new_page()
    try:
        other.goto(callbacks[0])
        expect(other).to_have_url(live_server.url + reverse("login"))
        expect(other.locator(".messages")).to_contain_text(f"Signing in with {PROVIDER_NAME}")
        expect(other.locator(".signout")).to_have_count(0)
    finally:
        other.context.close()


def test_without_local_passwords_the_page_offers_only_the_provider(
    page, live_server, personas, oidc, settings
):
    settings.NHI_LOCAL_PASSWORDS = False
    settings.AUTHENTICATION_BACKENDS = [
        b for b in settings.AUTHENTICATION_BACKENDS if not b.endswith("ModelBackend")
    ]
    page.goto(live_server.url + reverse("login"))
    expect(page.get_by_role("link", name=f"Sign in with {PROVIDER_NAME}")).to_be_visible()
    expect(page.get_by_label("Password", exact=True)).to_have_count(0)
    screenshot(page, "oidc-login-provider-only")
    page.goto(live_server.url + reverse("registry:path-list"))
    expect(page).to_have_url(re.compile(re.escape(live_server.url + reverse("login"))))
