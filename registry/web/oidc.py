"""Signing in through an OpenID provider: mozilla-django-oidc's views and backend, with
the provider's endpoints read from its discovery document, the ID token checked by
registry/runtime/oidc_keys.py (signature, issuer, audience, expiry) plus its nonce, and
the person and their teams from registry/services/identity_sync.py.

The flow is the authorization code flow with PKCE (S256) and a nonce; the state, nonce
and code verifier live in the session for one use. No token is stored or logged.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

import requests
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured, SuspiciousOperation
from django.db import DatabaseError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views import View
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from registry.runtime import oidc_keys
from registry.services.identity_sync import SignInRefused, identity_sign_in

log = logging.getLogger(__name__)

SIGN_IN_FAILED = "Signing in with {provider} did not succeed. Try again, or ask security."
PROVIDER_UNAVAILABLE = "{provider} cannot be reached right now. Try again in a minute."
LOCAL_PASSWORDS_OFF = "Local passwords are turned off here: sign in with {provider}."
NONCE_MISMATCH = "The ID token's nonce is not the one this sign-in sent (a replayed token)."
WRONG_AUTHORIZED_PARTY = "The ID token was issued to another client."
NO_SUBJECT = "The provider's answer names no subject."
SUBJECT_MISMATCH = "The provider's user information is about another subject."
MISCONFIGURED = (
    "Signing in with {provider} is not set up correctly here (NHI_OIDC_GROUP_RULES). Ask security."
)
# Where the backend leaves a refusal's message for the callback view to show.
REFUSAL_ATTRIBUTE = "nhi_sign_in_refusal"
# The session remembers that its person came through the provider, to sign them out there.
SESSION_FROM_PROVIDER = "nhi_signed_in_with_provider"


def enabled() -> bool:
    return bool(settings.NHI_OIDC_ISSUER)


def provider() -> dict[str, Any]:
    """The provider's discovery document (fetched once with a deadline, then cached)."""
    return oidc_keys.discovery(settings.NHI_OIDC_ISSUER)


def verify_id_token(raw: str, *, nonce: str | None, now) -> dict[str, Any]:
    """An ID token's claims once its signature, issuer, audience (this client), expiry
    and nonce (the one this sign-in sent) have all been checked."""
    client_id = settings.OIDC_RP_CLIENT_ID
    claims = oidc_keys.verify(raw, issuer=settings.NHI_OIDC_ISSUER, audiences=[client_id], now=now)
    audience = claims.get("aud")
    if isinstance(audience, list) and len(audience) > 1 and claims.get("azp") != client_id:
        raise oidc_keys.TokenRefused("wrong_audience", WRONG_AUTHORIZED_PARTY)
    if not nonce or claims.get("nonce") != nonce:
        raise oidc_keys.TokenRefused("nonce", NONCE_MISMATCH)
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise oidc_keys.TokenRefused("missing_claim", NO_SUBJECT)
    return claims


class ProviderBackend(OIDCAuthenticationBackend):
    """Authenticates the provider's callback (a `code` and `state` in the query). Every
    other sign-in (a password) passes through it untouched."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # The library reads every endpoint here; ours come from discovery, read only when
        # a provider sign-in happens (a password sign-in must not wait on the provider).
        self.UserModel = User

    OIDC_RP_CLIENT_ID = property(lambda self: settings.OIDC_RP_CLIENT_ID)
    OIDC_RP_CLIENT_SECRET = property(lambda self: settings.OIDC_RP_CLIENT_SECRET)
    OIDC_OP_TOKEN_ENDPOINT = property(lambda self: provider()["token_endpoint"])
    OIDC_OP_USER_ENDPOINT = property(lambda self: provider().get("userinfo_endpoint"))

    def authenticate(self, request, **kwargs):
        if not enabled() or request is None or "code" not in request.GET:
            return None
        try:
            user = super().authenticate(request, **kwargs)
        except SignInRefused as exc:
            log.warning("provider sign-in refused: %s", exc)
            setattr(request, REFUSAL_ATTRIBUTE, exc.message)
        except ImproperlyConfigured as exc:
            # NHI_OIDC_GROUP_RULES is malformed: nobody can be synced, so nobody signs in
            # through the provider until it is fixed (the log names the problem).
            log.error("provider sign-in impossible: %s", exc)
            setattr(request, REFUSAL_ATTRIBUTE, MISCONFIGURED.format(provider=_provider_name()))
        except (oidc_keys.TokenRefused, oidc_keys.IssuerUnavailable) as exc:
            log.warning("provider sign-in refused: %s", exc)
        except (requests.RequestException, SuspiciousOperation, KeyError, ValueError) as exc:
            log.warning("provider sign-in failed: %s", type(exc).__name__)
        except DatabaseError as exc:
            # identity_sign_in retries a lost race and refuses what cannot be stored; this
            # is the last resort, a refusal rather than a 500 (its transaction rolled back).
            log.error("provider sign-in failed: %s", type(exc).__name__)
        else:
            return user if user is not None and user.is_active else None
        return None

    def get_user(self, user_id):
        """The session's user while they may still sign in: a person deactivated (by
        SCIM, an admin or security) after signing in is signed out at their next request,
        as ModelBackend does for password sessions."""
        user = super().get_user(user_id)
        return user if user is not None and user.is_active else None

    def verify_token(self, token, **kwargs):
        if "nonce" not in kwargs:
            # A signed userinfo answer (no nonce of its own): signature, issuer, audience.
            return oidc_keys.verify(
                token,
                issuer=settings.NHI_OIDC_ISSUER,
                audiences=[settings.OIDC_RP_CLIENT_ID],
                now=timezone.now(),
            )
        return verify_id_token(token, nonce=kwargs["nonce"], now=timezone.now())

    def get_userinfo(self, access_token, id_token, payload):
        info: dict[str, Any] = {}
        if self.OIDC_OP_USER_ENDPOINT:
            info = super().get_userinfo(access_token, id_token, payload)
        if info.get("sub", payload["sub"]) != payload["sub"]:
            raise oidc_keys.TokenRefused("subject", SUBJECT_MISMATCH)
        # The verified ID token's claims win; userinfo adds what it lacks (Entra ID puts
        # groups in the ID token, others in userinfo).
        return {**info, **payload}

    def store_tokens(self, access_token, id_token):
        """Nothing: the registry keeps no credential, the provider's tokens included."""

    def get_or_create_user(self, access_token, id_token, payload):
        claims = self.get_userinfo(access_token, id_token, payload)
        user, _ = identity_sign_in(issuer=settings.NHI_OIDC_ISSUER, claims=claims)
        return user


def _provider_name() -> str:
    return settings.NHI_OIDC_PROVIDER_NAME


class ProviderSignInView(OIDCAuthenticationRequestView):
    """Sends the browser to the provider (code flow, PKCE S256, nonce, state)."""

    def __init__(self, **kwargs: Any) -> None:
        View.__init__(self, **kwargs)
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID

    def get(self, request):
        if not enabled():
            raise Http404("No identity provider is configured.")
        try:
            self.OIDC_OP_AUTH_ENDPOINT = provider()["authorization_endpoint"]
        except (oidc_keys.IssuerUnavailable, KeyError):
            messages.error(request, PROVIDER_UNAVAILABLE.format(provider=_provider_name()))
            return redirect("login")
        return super().get(request)


class ProviderCallbackView(OIDCAuthenticationCallbackView):
    """Where the provider sends the browser back: one use of the state, then the backend."""

    def get(self, request):
        if not enabled():
            raise Http404("No identity provider is configured.")
        try:
            return super().get(request)
        except SuspiciousOperation:  # a state this session never sent, or already used
            return self.login_failure()

    def login_success(self):
        response = super().login_success()
        self.request.session[SESSION_FROM_PROVIDER] = True
        return response

    def login_failure(self):
        refusal = getattr(self.request, REFUSAL_ATTRIBUTE, None)
        messages.error(self.request, refusal or SIGN_IN_FAILED.format(provider=_provider_name()))
        return redirect("login")


class SignInView(auth_views.LoginView):
    """The sign-in page: the provider's button when one is configured, the password form
    while local passwords are on (NHI_LOCAL_PASSWORDS)."""

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(
            **kwargs,
            provider_enabled=enabled(),
            provider_name=_provider_name(),
            local_passwords=settings.NHI_LOCAL_PASSWORDS,
        )

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not settings.NHI_LOCAL_PASSWORDS:
            # Nothing is checked (no password backend either): back to the page, told why.
            messages.error(request, LOCAL_PASSWORDS_OFF.format(provider=_provider_name()))
            return redirect("login")
        return super().post(request, *args, **kwargs)


class SignOutView(auth_views.LogoutView):
    """Signs out here. A person who came through the provider is then offered its
    end-session endpoint (RP-initiated logout, back to sign-in afterwards) as a link:
    the CSP's form-action 'self' stops a form's redirect to another origin."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        from_provider = bool(request.session.get(SESSION_FROM_PROVIDER))
        response = super().post(request, *args, **kwargs)
        if not (from_provider and enabled()):
            return response
        try:
            end_session = provider().get("end_session_endpoint")
        except oidc_keys.IssuerUnavailable:
            return response
        if not end_session:
            return response
        query = urlencode(
            {
                "client_id": settings.OIDC_RP_CLIENT_ID,
                "post_logout_redirect_uri": request.build_absolute_uri(reverse("login")),
            }
        )
        return render(
            request,
            "registration/provider_signed_out.html",
            {"end_session_url": f"{end_session}?{query}", "provider_name": _provider_name()},
        )
