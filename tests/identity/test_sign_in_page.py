"""The sign-in page and the provider's routes, with and without a provider and local
passwords (the browser flow is tests/browser/test_oidc_sign_in.py)."""

from __future__ import annotations

import pytest
from django.contrib.auth import authenticate
from django.contrib.messages import get_messages
from django.test import Client, RequestFactory
from django.urls import reverse

from registry.web.oidc import LOCAL_PASSWORDS_OFF, PROVIDER_UNAVAILABLE

PASSWORD = "nhi-demo-pass"


@pytest.fixture
def provider_on(settings, issuer):
    settings.NHI_OIDC_ISSUER = issuer.url
    settings.NHI_OIDC_PROVIDER_NAME = "Acme SSO"
    settings.OIDC_RP_CLIENT_ID = "nhi-registry"
    return settings


def test_without_a_provider_the_page_is_the_password_form(client, personas):
    page = client.get(reverse("login")).content.decode()
    assert 'name="password"' in page and "Sign in with" not in page
    assert client.get(reverse("oidc-sign-in")).status_code == 404
    assert client.get(reverse("oidc-callback"), {"code": "x", "state": "y"}).status_code == 404


def test_with_a_provider_both_are_offered(client, personas, provider_on):
    page = client.get(reverse("login")).content.decode()
    assert "Sign in with Acme SSO" in page and 'name="password"' in page
    assert (
        client.post(reverse("login"), {"username": "pat", "password": PASSWORD}).status_code == 302
    )
    assert "_auth_user_id" in client.session


def test_the_sign_in_redirect_carries_pkce_and_a_nonce(client, personas, provider_on, issuer):
    response = client.get(reverse("oidc-sign-in"))
    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith(f"{issuer.url}/authorize?")
    for part in ("code_challenge_method=S256", "code_challenge=", "nonce=", "state="):
        assert part in location


def test_local_passwords_off_checks_no_password(personas, provider_on):
    provider_on.NHI_LOCAL_PASSWORDS = False
    provider_on.AUTHENTICATION_BACKENDS = [
        b for b in provider_on.AUTHENTICATION_BACKENDS if not b.endswith("ModelBackend")
    ]
    client = Client()
    page = client.get(reverse("login")).content.decode()
    assert "Sign in with Acme SSO" in page and 'name="password"' not in page
    response = client.post(reverse("login"), {"username": "pat", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == reverse("login")
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        LOCAL_PASSWORDS_OFF.format(provider="Acme SSO")
    ]
    assert "_auth_user_id" not in client.session
    # No backend checks a password at all (the admin's sign-in included).
    request = RequestFactory().post("/admin/login/")
    assert authenticate(request, username="pat", password=PASSWORD) is None


def test_an_unreachable_provider_is_a_message_not_an_error(client, personas, settings):
    settings.NHI_OIDC_ISSUER = "http://127.0.0.1:9"  # discard: nothing answers
    settings.NHI_OIDC_PROVIDER_NAME = "Acme SSO"
    response = client.get(reverse("oidc-sign-in"))
    assert response.status_code == 302 and response["Location"] == reverse("login")
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        PROVIDER_UNAVAILABLE.format(provider="Acme SSO")
    ]


def test_a_callback_with_a_state_never_sent_signs_nobody_in(client, personas, provider_on):
    response = client.get(reverse("oidc-callback"), {"code": "stolen", "state": "forged"})
    assert response.status_code == 302 and response["Location"] == reverse("login")
    assert "_auth_user_id" not in client.session
