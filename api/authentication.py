"""`Authorization: Bearer <token>` with the registry's hashed API tokens, or with a CI
platform's OIDC token (a JWT) that a CI trust rule admits.

Every refused token is an `api_token.denied` audit event with its display prefix (or
"malformed", or "CI OIDC token"), why it was refused and where it came from; never the
token itself.
"""

from typing import NoReturn

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from registry.rules import errors
from registry.runtime.current_request import source_address
from registry.runtime.oidc_keys import looks_like_jwt
from registry.services.ci_trust import CiTokenRefused, ci_authenticate
from registry.services.security import security_token_denied, token_denial
from registry.services.tokens import token_authenticate

MALFORMED_HEADER = "Malformed Authorization header."
# What the audit shows of a refused CI token: never the token, nor claims it asserts.
CI_TOKEN_PRESENTED = "CI OIDC token"  # noqa: S105 - a label, not a token


def _refuse(request, raw: str | None, message: str, now) -> NoReturn:
    """Record why the presented credential is refused, and refuse it."""
    token, presented, why = token_denial(raw, now=now) if raw else (None, "malformed", "malformed")
    security_token_denied(
        token=token,
        presented=presented,
        why=why,
        source_address=source_address(request),
        operation=f"{request.method} {request.path}",
        now=now,
    )
    raise exceptions.AuthenticationFailed(message)


class BearerTokenAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode(errors="replace")
        parts = header.split()
        if not parts or parts[0].lower() != "bearer":
            return None
        now = timezone.now()
        if len(parts) != 2:
            _refuse(request, None, MALFORMED_HEADER, now)
        token = token_authenticate(parts[1], now=now)
        if token is None:
            _refuse(request, parts[1], errors.INVALID_TOKEN, now)
        # A team token acts for no person: request.user stays anonymous and the token
        # (request.auth) carries who is acting.
        return (token.user if token.user_id else AnonymousUser(), token)

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="nhi-registry"'


class CiTokenNotTrusted(exceptions.APIException):
    """A valid CI token that no trust rule admits: 403, recorded as the token's denial
    (not again as a refused request)."""

    status_code = 403
    default_code = "ci_token_not_trusted"


class CiOidcTokenAuthentication(authentication.BaseAuthentication):
    """A pipeline's CI OIDC token (GitHub Actions, GitLab CI) as a Bearer token: checked
    by registry/services/ci_trust.py, it acts as the matching rule's team integration
    (request.auth is the rule's grant, a team token, so scopes and throttle are a team
    token's). Anything that is not a JWT, or every JWT while NHI_CI_OIDC_ISSUERS is
    empty, is left to BearerTokenAuthentication."""

    def authenticate(self, request):
        parts = authentication.get_authorization_header(request).decode(errors="replace").split()
        if len(parts) != 2 or parts[0].lower() != "bearer" or not looks_like_jwt(parts[1]):
            return None
        if not settings.NHI_CI_OIDC_ISSUERS:
            return None
        now = timezone.now()
        try:
            grant, _ = ci_authenticate(parts[1], now=now)
        except CiTokenRefused as exc:
            security_token_denied(
                token=exc.token,
                presented=CI_TOKEN_PRESENTED,
                why=exc.why,
                source_address=source_address(request),
                operation=f"{request.method} {request.path}",
                reason=exc.message,
                now=now,
            )
            if exc.status == 403:
                raise CiTokenNotTrusted(exc.message) from exc
            raise exceptions.AuthenticationFailed(exc.message) from exc
        return (AnonymousUser(), grant)

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="nhi-registry"'


class CiOidcTokenScheme(OpenApiAuthenticationExtension):
    """The schema's name for the CI token scheme (api/schema.py has the registry token's)."""

    target_class = "api.authentication.CiOidcTokenAuthentication"
    name = "ciOidcToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "A CI platform's OIDC token (GitHub Actions, GitLab CI) that a CI "
            "trust rule admits as a team's integration (docs/identity.md).",
        }
