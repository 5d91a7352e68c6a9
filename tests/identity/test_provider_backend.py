"""The provider's backend and callback: a deactivated person's session ends at their next
request, an inactive person cannot sign in, and a sign-in that cannot be accepted is a
message on the sign-in page, never a 500."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import User
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from registry.models import ExternalIdentity
from registry.services.identity_sync import SUBJECT_TOO_LONG
from registry.web.oidc import MISCONFIGURED, SIGN_IN_FAILED

BACKEND = "registry.web.oidc.ProviderBackend"


@pytest.fixture
def provider_on(settings, issuer):
    settings.NHI_OIDC_ISSUER = issuer.url
    settings.NHI_OIDC_PROVIDER_NAME = "Acme SSO"
    settings.OIDC_RP_CLIENT_ID = "nhi-registry"
    settings.NHI_OIDC_GROUP_RULES = {"nhi-payments": ["payments", "member"]}
    settings.AUTHENTICATION_BACKENDS = [*settings.AUTHENTICATION_BACKENDS, BACKEND]
    return settings


@pytest.fixture
def provider_says(monkeypatch):
    """The verified claims the provider's code exchange yields (the token checks have
    their own tests): the library's code exchange is replaced by these claims."""
    said: dict = {}

    def exchange(self, request, **kwargs):
        return self.get_or_create_user("access", "id", dict(said))

    monkeypatch.setattr(OIDCAuthenticationBackend, "authenticate", exchange)
    return said


def callback(client: Client):
    """Start a sign-in (the session gets its state), then come back with a code."""
    location = client.get(reverse("oidc-sign-in"))["Location"]
    state = parse_qs(urlsplit(location).query)["state"][0]
    return client.get(reverse("oidc-callback"), {"code": "c", "state": state})


def shown(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_a_deactivated_person_is_signed_out_at_the_next_request(client, personas, provider_on):
    pat = personas.users.pat
    client.force_login(pat, backend=BACKEND)
    assert client.get(reverse("registry:my-work")).status_code == 200
    User.objects.filter(pk=pat.pk).update(is_active=False)
    response = client.get(reverse("registry:my-work"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_a_sign_in_lands_in_the_teams(client, personas, provider_on, provider_says):
    provider_says.update(sub="ada-1", preferred_username="ada", groups=["nhi-payments"])
    response = callback(client)
    assert response.status_code == 302 and response["Location"] != reverse("login")
    assert client.session["_auth_user_id"] == str(User.objects.get(username="ada").pk)


def test_an_inactive_person_cannot_sign_in(client, personas, provider_on, provider_says):
    provider_says.update(sub="ada-1", preferred_username="ada", groups=[])
    callback(Client())
    User.objects.filter(username="ada").update(is_active=False)
    response = callback(client)
    assert response["Location"] == reverse("login") and "_auth_user_id" not in client.session
    assert shown(response) == [SIGN_IN_FAILED.format(provider="Acme SSO")]


def test_a_subject_too_long_is_a_message(client, personas, provider_on, provider_says):
    provider_says.update(sub="s" * 300, preferred_username="ada", groups=[])
    response = callback(client)
    assert response.status_code == 302 and response["Location"] == reverse("login")
    assert shown(response) == [SUBJECT_TOO_LONG.format(limit=255)]
    assert not ExternalIdentity.objects.exists()


def test_malformed_group_rules_are_a_message(client, personas, provider_on, provider_says):
    provider_on.NHI_OIDC_GROUP_RULES = {"nhi-payments": ["payments", "owner"]}
    provider_says.update(sub="ada-1", preferred_username="ada", groups=["nhi-payments"])
    response = callback(client)
    assert response.status_code == 302 and response["Location"] == reverse("login")
    assert shown(response) == [MISCONFIGURED.format(provider="Acme SSO")]
    assert "_auth_user_id" not in client.session and not ExternalIdentity.objects.exists()
