"""What every page view shares: the acting person, the clock, refusals as responses."""

from __future__ import annotations

import datetime as dt

from django.http import Http404, HttpRequest
from django.utils import timezone

from registry.actors import Actor
from registry.errors import (
    Invalid,
    InvalidTransition,
    NotAllowed,
    NotFound,
    ServiceError,
    StaleVersion,
)
from registry.models import AccessPath
from registry.selectors import path_get

# A refused change answers with the status the API uses, so scripts and people agree.
STATUS_FOR_ERROR: dict[type[ServiceError], int] = {
    Invalid: 400,
    NotAllowed: 403,
    NotFound: 404,
    InvalidTransition: 409,
    StaleVersion: 409,  # a page has no If-Match: a stale form is a conflict to reload
}


def actor_for(request: HttpRequest) -> Actor:
    if not hasattr(request, "_nhi_actor"):
        request._nhi_actor = Actor.for_user(request.user)
    return request._nhi_actor


def request_now(request: HttpRequest) -> dt.datetime:
    """One clock reading per request, so every number on a page is about one moment."""
    if not hasattr(request, "_nhi_now"):
        request._nhi_now = timezone.now()
    return request._nhi_now


def visible_path_or_404(request: HttpRequest, path_id: str) -> AccessPath:
    path = path_get(actor=actor_for(request), path_id=path_id, now=request_now(request))
    if path is None:
        raise Http404("No such access path.")
    return path


def error_status(exc: ServiceError) -> int:
    return STATUS_FOR_ERROR.get(type(exc), exc.http_status)
