"""What the navigation needs on every page."""

from __future__ import annotations

from django.http import HttpRequest

from registry.web.views._common import actor_for


def navigation(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"nav_is_security": actor_for(request).is_security_reviewer}
