"""The request being served, for code that is not handed it: model signals (who changed
this user in the admin?) and the pages' refusal path (who was refused?).

`CurrentRequestMiddleware` binds the request for the length of the response; it goes
after Django's AuthenticationMiddleware. Outside a request (a management command, the
shell, a worker) there is none and `current_request()` is None.
"""

from __future__ import annotations

import contextvars
import ipaddress

from django.conf import settings
from django.http import HttpRequest

_current: contextvars.ContextVar[HttpRequest | None] = contextvars.ContextVar(
    "current_request", default=None
)

MIDDLEWARE_PATH = "registry.runtime.current_request.CurrentRequestMiddleware"


class CurrentRequestMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _current.set(request)
        try:
            return self.get_response(request)
        finally:
            _current.reset(token)


def current_request() -> HttpRequest | None:
    return _current.get()


def _ip(value: str) -> str:
    """`value` when it is an IP address, else "" (headers are the caller's text)."""
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return ""


def source_address(request: HttpRequest | None) -> str:
    """The address the request came from: REMOTE_ADDR, or behind our TLS proxy
    (BEHIND_TLS_PROXY sets SECURE_PROXY_SSL_HEADER) the X-Forwarded-For entry that
    proxy appended, which is the last one: entries before it are whatever the client
    sent, and a client could name any address there."""
    if request is None:
        return ""
    meta = getattr(request, "META", {})
    if getattr(settings, "SECURE_PROXY_SSL_HEADER", None):
        hops = [hop for hop in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
        if hops and (address := _ip(hops[-1])):
            return address
    return _ip(meta.get("REMOTE_ADDR", ""))


def check_middleware(app_configs=None, **kwargs) -> list:
    """Without the middleware, account changes made in the admin are recorded as the
    system's and refusals on pages are not recorded at all: say so at start-up."""
    from django.core import checks

    if MIDDLEWARE_PATH in settings.MIDDLEWARE:
        return []
    return [
        checks.Warning(
            f"{MIDDLEWARE_PATH} is not in MIDDLEWARE.",
            hint="Add it after django.contrib.auth.middleware.AuthenticationMiddleware, so "
            "the audit knows who changed an account and records refusals on pages.",
            id="registry.W001",
        )
    ]
