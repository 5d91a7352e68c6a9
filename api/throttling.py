from rest_framework.throttling import SimpleRateThrottle

from registry.models import ApiToken


class PerCallerRateThrottle(SimpleRateThrottle):
    """One budget per token (or per signed-in person): a noisy integration slows
    itself down, not everyone else."""

    scope = "caller"

    def get_cache_key(self, request, view) -> str | None:
        if isinstance(request.auth, ApiToken):
            ident = f"token:{request.auth.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            ident = f"anon:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}
