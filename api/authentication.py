"""`Authorization: Bearer <token>` with the registry's hashed API tokens."""

from django.contrib.auth.models import AnonymousUser
from rest_framework import authentication, exceptions

from registry import errors
from registry.services.tokens import token_authenticate


class BearerTokenAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode(errors="replace")
        parts = header.split()
        if not parts or parts[0].lower() != "bearer":
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header.")
        token = token_authenticate(parts[1])
        if token is None:
            raise exceptions.AuthenticationFailed(errors.INVALID_TOKEN)
        # A team token acts for no person: request.user stays anonymous and the token
        # (request.auth) carries who is acting.
        return (token.user if token.user_id else AnonymousUser(), token)

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="nhi-registry"'
