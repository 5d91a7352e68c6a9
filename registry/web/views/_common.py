"""What every page view shares: the acting person, the clock, refusals as responses."""

from __future__ import annotations

import datetime as dt

from django.db.models import Model
from django.http import Http404, HttpRequest
from django.utils import timezone

from registry.models import (
    AccessPath,
    ApiToken,
    Claim,
    ImportRun,
    Notification,
    PolicyException,
    SavedFilter,
    Team,
    Transfer,
)
from registry.rules.actors import actor_for
from registry.rules.errors import (
    Invalid,
    InvalidTransition,
    NotAllowed,
    NotFound,
    ServiceError,
    StaleVersion,
)
from registry.rules.validation import credential_refused_fields
from registry.runtime.current_request import current_request, source_address
from registry.selectors import path_get
from registry.services.leak_signals import note_refusal
from registry.services.security import refusal_target, security_action_refused

# A refused change answers with the status the API uses, so scripts and people agree.
STATUS_FOR_ERROR: dict[type[ServiceError], int] = {
    Invalid: 400,
    NotAllowed: 403,
    NotFound: 404,
    InvalidTransition: 409,
    StaleVersion: 409,  # a page has no If-Match: a stale form is a conflict to reload
}


_NOW = "_nhi_now"  # the request's clock reading, on the request
_RECORDED = "_recorded"  # on a refusal already recorded


def request_now(request: HttpRequest) -> dt.datetime:
    """One clock reading per request, so every number on a page is about one moment."""
    if not hasattr(request, _NOW):
        setattr(request, _NOW, timezone.now())
    return getattr(request, _NOW)


def visible_path_or_404(request: HttpRequest, path_id: str) -> AccessPath:
    path = path_get(actor=actor_for(request), path_id=path_id, now=request_now(request))
    if path is None:
        raise Http404("No such access path.")
    return path


# Refusals that are security events (docs/SECURITY-EVENTS.md): not allowed, and not
# possible in the object's state. Invalid input, unknown objects and stale forms are not.
RECORDED_REFUSALS = (NotAllowed, InvalidTransition)
# The URL keyword that names a page's object, most specific first.
_TARGETS: tuple[tuple[str, type[Model], str], ...] = (
    ("claim_id", Claim, "pk"),
    ("transfer_id", Transfer, "pk"),
    ("exception_id", PolicyException, "pk"),
    ("token_id", ApiToken, "pk"),
    ("notification_id", Notification, "pk"),
    ("saved_id", SavedFilter, "pk"),
    ("run_id", ImportRun, "pk"),
    ("path_id", AccessPath, "pk"),
    ("slug", Team, "slug"),
)


def record_refusal(request: HttpRequest, exc: ServiceError, status: int) -> None:
    """The refused request as a `request.refused` event: who, which page's action, on
    which object, and the refusal's message. The service's transaction has already
    rolled back; this is its own."""
    match = request.resolver_match
    kwargs = match.kwargs if match is not None else {}
    target, target_ref = None, ""
    for key, model, field in _TARGETS:
        if key in kwargs:
            target = refusal_target(model, **{field: kwargs[key]})
            target_ref = f"{model._meta.model_name}:{kwargs[key]}"
            break
    security_action_refused(
        actor=actor_for(request),
        operation=match.view_name if match is not None else "",
        request_line=f"{request.method} {request.path}",
        target=target,
        target_ref=target_ref,
        reason=exc.message,
        status=status,
        source_address=source_address(request),
        now=request_now(request),
    )


def error_status(exc: ServiceError) -> int:
    """The status a refused change answers with. Every page's refusal comes through
    here, so this is also where a refusal is recorded (once per error, for the request
    being served: `registry.runtime.current_request.CurrentRequestMiddleware`)."""
    status = STATUS_FOR_ERROR.get(type(exc), exc.http_status)
    request = current_request()
    if (
        isinstance(exc, RECORDED_REFUSALS)
        and request is not None
        and not getattr(exc, _RECORDED, False)
    ):
        setattr(exc, _RECORDED, True)
        record_refusal(request, exc, status)
    if isinstance(exc, Invalid) and request is not None and not getattr(exc, _RECORDED, False):
        setattr(exc, _RECORDED, True)
        note_secret_refusal(request, exc)
    return status


def note_secret_refusal(request: HttpRequest, exc: Invalid) -> None:
    """A change to the page's path refused because a field held a credential: the
    path's NHI2 signal (services/leak_signals.py)."""
    match = request.resolver_match
    path_id = match.kwargs.get("path_id") if match is not None else None
    if path_id is None or not credential_refused_fields(exc.errors):
        return
    note_refusal(
        exc,
        actor=actor_for(request),
        path=refusal_target(AccessPath, pk=path_id),
        now=request_now(request),
    )
