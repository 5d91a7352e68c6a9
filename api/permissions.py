from rest_framework.permissions import SAFE_METHODS, BasePermission

from registry.models import ApiToken

MISSING_SCOPE = "This token lacks the '{scope}' scope."
# The refusal's code: the exception handler records it as the token's denial.
MISSING_SCOPE_CODE = "missing_scope"


class RegistryAccess(BasePermission):
    """A signed-in person, or a live token whose scopes cover the method. Which objects
    the caller may see or change is decided by selectors and services."""

    message = "Authentication credentials were not provided."

    def has_permission(self, request, view) -> bool:
        token = request.auth if isinstance(request.auth, ApiToken) else None
        if token is None:
            return bool(request.user and request.user.is_authenticated)
        scope = ApiToken.Scope.READ if request.method in SAFE_METHODS else ApiToken.Scope.WRITE
        if scope not in token.scopes:
            self.message = MISSING_SCOPE.format(scope=scope)
            self.code = MISSING_SCOPE_CODE
            return False
        return True


class LookupAccess(RegistryAccess):
    """A lookup (triage) is a read sent as a POST (the value stays out of URLs and
    logs): a read scope suffices."""

    def has_permission(self, request, view) -> bool:
        token = request.auth if isinstance(request.auth, ApiToken) else None
        if token is None:
            return bool(request.user and request.user.is_authenticated)
        if ApiToken.Scope.READ not in token.scopes:
            self.message = MISSING_SCOPE.format(scope=ApiToken.Scope.READ)
            self.code = MISSING_SCOPE_CODE
            return False
        return True
