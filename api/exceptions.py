"""One error shape for every failure: {"detail", "code", "errors"?}.

Service refusals map to HTTP by kind: Invalid 400 (with per-field messages),
NotAllowed 403, NotFound 404, InvalidTransition 409, StaleVersion 412, PolicyRefused 422
(with the policy's verdict: "verdict" and "violations", docs/policy-at-request-time.md).
Nothing has changed when any of them is returned.

Refusals are security events (docs/SECURITY-EVENTS.md): a 403 or 409 is recorded as
`request.refused` once the refused change has rolled back, and a token's missing scope
as `api_token.denied`. Invalid input (400), unknown objects (404, the outsider's
answer), stale versions (412) and requests with no credentials at all (401) are not.
"""

import logging
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from api.parsers import BODY_TOO_LARGE, RequestTooLarge
from api.permissions import MISSING_SCOPE_CODE
from registry.models import ApiToken
from registry.rules.actors import Actor, NotSignedIn, actor_for
from registry.rules.enforcement import verdict_json
from registry.rules.errors import Invalid, PolicyRefused, ServiceError
from registry.rules.validation import credential_refused_fields
from registry.runtime.current_request import source_address
from registry.services.leak_signals import note_refusal
from registry.services.security import (
    anonymous_actor,
    security_action_refused,
    security_token_denied,
)
from registry.web.middleware import (
    RETRY_AFTER_SECONDS,
    unavailable_dependency,
    unavailable_message,
)

logger = logging.getLogger(__name__)

# The refusals recorded: not allowed, and not possible in the object's current state.
RECORDED_STATUSES = frozenset({403, 409})

_CODES = {
    400: "invalid",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    412: "precondition_failed",
    413: "too_large",
    415: "unsupported_media_type",
    422: "policy_refused",
    429: "throttled",
    503: "unavailable",
}


class ErrorSerializer(serializers.Serializer):
    """The body of every error response (for the schema)."""

    detail = serializers.CharField()
    code = serializers.CharField()
    # DRF's metaclass moves declared fields off the class, so this field does not
    # shadow Serializer.errors; the stubs cannot tell.
    errors = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()), required=False
    )


def _flatten(detail) -> dict[str, list[str]]:
    if isinstance(detail, dict):
        return {
            key: [str(m) for m in (value if isinstance(value, list) else [value])]
            for key, value in detail.items()
        }
    return {"non_field_errors": [str(m) for m in detail]}


def _actor(request) -> Actor:
    try:
        return actor_for(request)
    except NotSignedIn:
        pass
    # Refused while authenticating (a session request failing its CSRF check): DRF has
    # set the request's user to anonymous, but the session still says who it is.
    user = get_user(request._request)
    return Actor.for_user(user) if user.is_authenticated else anonymous_actor()


def _target(view):
    """(the object the request named, if the caller can see it; what it named)."""
    model = getattr(getattr(view, "queryset", None), "model", None)
    if model is None:
        return None, ""
    key = getattr(view, "lookup_url_kwarg", None) or getattr(view, "lookup_field", "pk")
    value = getattr(view, "kwargs", {}).get(key)
    if value is None:
        return None, model._meta.model_name
    try:
        target = view.get_object()
    except (
        Http404,
        exceptions.APIException,
        NotSignedIn,  # refused while authenticating: nobody to scope the lookup to
        ValueError,
        TypeError,
        DjangoValidationError,
    ):
        target = None
    return target, f"{model._meta.model_name}:{value}"


def _operation(request, view) -> str:
    match = getattr(request, "resolver_match", None)
    if match is not None and match.view_name:
        return match.view_name
    return f"{getattr(view, 'basename', type(view).__name__)}-{getattr(view, 'action', '')}"


def record_refusal(request, view, *, status: int, reason: str) -> None:
    """A refused request as a security event, after its change rolled back."""
    target, target_ref = _target(view)
    security_action_refused(
        actor=_actor(request),
        operation=_operation(request, view),
        request_line=f"{request.method} {request.path}",
        target=target,
        target_ref=target_ref,
        reason=reason,
        status=status,
        source_address=source_address(request),
        now=timezone.now(),
    )


def _record(exc, context, status: int, reason: str) -> None:
    request, view = context.get("request"), context.get("view")
    if request is None or status not in RECORDED_STATUSES:
        return
    token = getattr(request, "auth", None)
    code = getattr(getattr(exc, "detail", None), "code", None)
    if code == MISSING_SCOPE_CODE and isinstance(token, ApiToken):
        security_token_denied(
            token=token,
            presented=token.prefix,
            why=MISSING_SCOPE_CODE,
            source_address=source_address(request),
            operation=f"{request.method} {request.path}",
            reason=reason,
            now=timezone.now(),
        )
        return
    if isinstance(exc, ServiceError | exceptions.PermissionDenied):
        record_refusal(request, view, status=status, reason=reason)


def _note_secret(exc: Invalid, context) -> None:
    """A change to the named path refused because a field held a credential: the
    path's NHI2 signal (registry/services/leak_signals.py), after the change rolled back."""
    request, view = context.get("request"), context.get("view")
    if request is None or view is None or not credential_refused_fields(exc.errors):
        return
    target, _ = _target(view)  # the path the request named, if the caller can see it
    note_refusal(exc, actor=_actor(request), path=target, now=timezone.now())


def exception_handler(exc, context):
    # A failing database or disk: 503 with Retry-After in the API's shape (the same
    # answer registry/web/middleware.py gives outside DRF's views). The service's
    # transaction rolled back as the exception left it, so nothing was half-done.
    if (what := unavailable_dependency(exc)) is not None:
        logger.error("%s unavailable while serving the API", what, exc_info=exc)
        return Response(
            {"detail": unavailable_message(what), "code": "unavailable"},
            status=503,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    if isinstance(exc, RequestDataTooBig):  # a JSON body past DATA_UPLOAD_MAX_MEMORY_SIZE
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        exc = RequestTooLarge(BODY_TOO_LARGE.format(limit=limit))
    if isinstance(exc, NotSignedIn):  # nobody is acting: DRF's 401 with its challenge
        exc = exceptions.NotAuthenticated()
    if isinstance(exc, ServiceError):
        body: dict[str, Any] = {
            "detail": exc.message,
            "code": _CODES.get(exc.http_status, "error"),
        }
        if isinstance(exc, Invalid):
            body["errors"] = exc.errors
            _note_secret(exc, context)
        if isinstance(exc, PolicyRefused):
            body |= verdict_json(exc.verdict)
        _record(exc, context, exc.http_status, exc.message)
        return Response(body, status=exc.http_status)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.PermissionDenied):
        _record(exc, context, response.status_code, str(exc.detail))
    code = _CODES.get(response.status_code, "error")
    if isinstance(exc, exceptions.ValidationError):
        errors = _flatten(exc.detail)
        first = next(iter(errors.values()))[0] if errors else "Invalid input."
        response.data = {"detail": first, "code": code, "errors": errors}
    else:
        detail = response.data.get("detail") if isinstance(response.data, dict) else None
        response.data = {"detail": str(detail or exc), "code": code}
    return response


def not_found(request, exception=None):
    """Unknown URLs under /api/ answer in the API's error shape, others as HTML."""
    if request.path.startswith("/api/"):
        from django.http import JsonResponse

        return JsonResponse({"detail": "Not found.", "code": "not_found"}, status=404)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def errors(*codes: int) -> dict:
    """The documented error responses; every operation may also be throttled (429)."""
    return {code: OpenApiResponse(ErrorSerializer) for code in (*codes, 429)}
