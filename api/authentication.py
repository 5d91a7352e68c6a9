"""`Authorization: Bearer <token>` with the registry's hashed API tokens.

Every refused token is an `api_token.denied` audit event with its display prefix (or
"malformed"), why it was refused and where it came from; never the token itself.
"""

from typing import NoReturn

from django.contrib.auth.models import AnonymousUser
from django.utils import timezone
from rest_framework import authentication, exceptions

from registry.rules import errors
from registry.runtime.current_request import source_address
from registry.services.security import security_token_denied, token_denial
from registry.services.tokens import token_authenticate

MALFORMED_HEADER = "Malformed Authorization header."


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
