"""The API's throttle: the budgets of registry/runtime/rate_limits.py (per person, per team)."""

from __future__ import annotations

from rest_framework.throttling import BaseThrottle

from registry.models import ApiToken
from registry.runtime.rate_limits import caller_for, spend


class PerCallerRateThrottle(BaseThrottle):
    """One budget per person (session and personal tokens alike) and one per team (all
    its integration tokens), counted in the shared store."""

    def allow_request(self, request, view) -> bool:
        token = request.auth if isinstance(request.auth, ApiToken) else None
        self._retry_after = spend(caller_for(request, token))
        return self._retry_after is None

    def wait(self) -> float | None:
        return self._retry_after
