import errno
import logging
import re
import sys
import time

from django.conf import settings
from django.contrib.auth import logout
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.template import loader
from django.views import defaults

from registry.rules.secret_scan import find_secret
from registry.rules.validation import unsafe_input_errors
from registry.runtime.log_context import path_id_of, reset_path_id, set_path_id
from registry.runtime.rate_limits import caller_for, spend
from registry.runtime.request_id import current_request_id, request_context

logger = logging.getLogger(__name__)

# Accept a caller's id (for correlating with a proxy or pipeline log) only when it is
# short and plain, so nobody can inject text into the audit log through a header, and
# not shaped like a credential (a token pasted into the wrong header would otherwise be
# written into every audit event of the request). Anything else gets a fresh id.
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def accepted_request_id(supplied: str) -> str | None:
    if _SAFE_REQUEST_ID.match(supplied) and find_secret(supplied) is None:
        return supplied
    return None


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        supplied = request.headers.get("X-Request-ID", "")
        with request_context(accepted_request_id(supplied)) as rid:
            request.request_id = rid
            response = self.get_response(request)
        response["X-Request-ID"] = rid
        return response


# Every page (ours, the admin, the API's documentation) loads scripts and styles only
# from our own static files (HTMX and Swagger UI are vendored): no inline script or
# style can run, so injected markup cannot execute. JSON answers carry it too: nothing
# may frame or run them.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    ]
)


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        return response


class SessionLifetimeMiddleware:
    """A signed-in session ends SESSION_COOKIE_AGE after sign-in, however active, and
    NHI_SESSION_IDLE_SECONDS after its last request. Django alone only has the first,
    and pushes it back whenever the session is written; here the sign-in time is kept
    in the session and never moved. The last-seen time is written at most once a
    minute, so an active session does not cost a session write per request."""

    STARTED = "_nhi_session_started"
    SEEN = "_nhi_session_seen"
    WRITE_EVERY = 60

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            now = int(time.time())
            session = request.session
            # Set at sign-in (mark_session_start); a session from before this existed
            # starts now.
            started = session.setdefault(self.STARTED, now)
            seen = session.get(self.SEEN, now)
            if (
                now - started > settings.SESSION_COOKIE_AGE
                or now - seen > settings.NHI_SESSION_IDLE_SECONDS
            ):
                logout(request)  # records the sign-out (registry/web/account_signals.py)
            elif now - seen >= self.WRITE_EVERY or self.SEEN not in session:
                session[self.SEEN] = now
        return self.get_response(request)


def mark_session_start(request) -> None:
    """At sign-in: the session's lifetime and idle clocks start now (written with the
    sign-in's own session save, so a request costs no extra write)."""
    now = int(time.time())
    request.session[SessionLifetimeMiddleware.STARTED] = now
    request.session[SessionLifetimeMiddleware.SEEN] = now


class UnsafeInputMiddleware:
    """Query strings and form posts, pages and API alike: a parameter holding a NUL
    character, an unpaired surrogate or more than validation.MAX_TEXT_LENGTH characters
    is a 400 naming it, before any view, form or query sees it (JSON bodies:
    api.parsers.SafeJSONParser)."""

    FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        params = [request.GET]
        if request.method == "POST" and request.content_type in self.FORM_TYPES:
            params.append(request.POST)
        errors: dict[str, list[str]] = {}
        for query in params:
            for key, values in query.lists():
                errors.update(unsafe_input_errors({key: values[0] if len(values) == 1 else values}))
        if not errors:
            return self.get_response(request)
        first = next(iter(errors.values()))[0]
        if request.path.startswith("/api/"):
            body = {"detail": first, "code": "invalid", "errors": errors}
            return JsonResponse(body, status=400)
        text = "; ".join(f"{name}: {messages[0]}" for name, messages in errors.items())
        return HttpResponseBadRequest(f"Refused: {text}", content_type="text/plain")


class PageRateLimitMiddleware:
    """Pages spend the same budgets as the API (registry/runtime/rate_limits.py); the API is
    counted by its throttle, which knows the token. Static files cost nothing."""

    EXEMPT = ("/api/", "/static/", "/healthz", "/readyz")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith(self.EXEMPT):
            retry_after = spend(caller_for(request))
            if retry_after is not None:
                response = HttpResponse(
                    "Too many requests: wait a moment and try again.",
                    status=429,
                    content_type="text/plain",
                )
                response["Retry-After"] = str(retry_after)
                return response
        return self.get_response(request)


# --- the log context: which path a request concerns --------------------------------


class LogContextMiddleware:
    """Binds the access path a URL names for the lines logged while serving it
    (registry/runtime/log_context.py); request id and actor are bound elsewhere."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = set_path_id("")
        try:
            return self.get_response(request)
        finally:
            reset_path_id(token)

    def process_view(self, request, view_func, view_args, view_kwargs):
        path_id = path_id_of(request)
        if path_id:
            set_path_id(path_id)  # undone by __call__'s reset when the request ends
        return None


# --- 503: the database or the disk is failing ----------------------------------------

RETRY_AFTER_SECONDS = 30
# Disk failures that say "the storage is unwell", not "this request is wrong".
_DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EIO, errno.EROFS, errno.EDQUOT})


def unavailable_dependency(exc: BaseException | None) -> str | None:
    """ "database" or "storage" when `exc` means a dependency is failing (the request
    itself is fine and may be retried), else None."""
    if isinstance(exc, OperationalError | InterfaceError):
        return "database"
    if isinstance(exc, OSError) and exc.errno in _DISK_ERRNOS:
        return "storage"
    return None


def unavailable_message(what: str) -> str:
    return (
        f"The registry cannot reach its {what} right now; nothing was changed. "
        f"Try again in {RETRY_AFTER_SECONDS} seconds."
    )


def service_unavailable(request: HttpRequest, what: str) -> HttpResponse:
    """503 with Retry-After: the API's error shape under /api/, else a small page
    rendered without the request (no session, no context processor, no query)."""
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse(
            {"detail": unavailable_message(what), "code": "unavailable"}, status=503
        )
    else:
        page = loader.get_template("503.html").render(
            {
                "what": what,
                "retry_after": RETRY_AFTER_SECONDS,
                "request_id": current_request_id(),
            }
        )
        response = HttpResponse(page, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


class ServiceUnavailableMiddleware:
    """A failing database or disk is a 503 with Retry-After, never a 500: a view's
    exception here; an exception raised by another middleware (the session or the
    user, loaded before any view runs) reaches `server_error`, Django's handler500,
    because Django turns each middleware's exception into a response on the spot."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        what = unavailable_dependency(exception)
        if what is None:
            return None
        logger.error("%s unavailable while serving %s", what, request.path, exc_info=exception)
        return service_unavailable(request, what)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: called while the exception is being handled, so it can tell a
    failing dependency (503) from a bug (500, in the API's shape under /api/)."""
    what = unavailable_dependency(sys.exc_info()[1])
    if what is not None:
        return service_unavailable(request, what)
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Server error.", "code": "error"}, status=500)
    return defaults.server_error(request)
