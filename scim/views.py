"""The SCIM endpoints. Thin: authenticate, parse, call a service or selector, render.

Every answer is application/scim+json; every refusal is a SCIM Error (RFC 7644 3.12)
with the field named in `detail`. Writes take If-Match (meta.version); a stale one is
412 and nothing changes."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from registry.models import Team
from registry.rules import token_format
from registry.rules.actors import Actor
from registry.rules.errors import Invalid, NotAllowed, ServiceError
from registry.rules.validation import MAX_INPUT_DEPTH, unsafe_input_errors
from registry.runtime.current_request import source_address
from registry.selectors import scim as reads
from registry.services import scim as writes
from registry.services.security import security_token_denied
from scim import discovery
from scim.filters import FilterError, parse_filter
from scim.patch import PatchError, apply_patch
from scim.resources import (
    ERROR_SCHEMA,
    LIST_SCHEMA,
    group_resource,
    group_state_from,
    project,
    user_resource,
    user_state_from,
)

MEDIA_TYPE = "application/scim+json"
USER_KEYS = {k.lower(): k for k in ("userName", "name", "emails", "active", "externalId")}
GROUP_KEYS = {k.lower(): k for k in ("displayName", "members", "externalId")}
# What a PATCH remove may not unassign (required in the published schemas).
USER_REQUIRED = frozenset({"username", "active"})
GROUP_REQUIRED = frozenset({"displayname"})


class ScimError(Exception):
    def __init__(self, status: int, detail: str, scim_type: str = "") -> None:
        super().__init__(detail)
        self.status, self.detail, self.scim_type = status, detail, scim_type


def respond(body: Any, status: int = 200, *, etag: str = "") -> HttpResponse:
    response = HttpResponse(json.dumps(body), status=status, content_type=MEDIA_TYPE)
    if etag:
        response["ETag"] = etag
    return response


def error(status: int, detail: str, scim_type: str = "") -> HttpResponse:
    body: dict[str, Any] = {"schemas": [ERROR_SCHEMA], "status": str(status), "detail": detail}
    if scim_type:
        body["scimType"] = scim_type
    response = respond(body, status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="nhi-registry-scim"'
    return response


def _service_error(exc: ServiceError) -> HttpResponse:
    if isinstance(exc, Invalid):
        detail = "; ".join(f"{field}: {msgs[0]}" for field, msgs in exc.errors.items())
        return error(400, detail, "invalidValue")
    if isinstance(exc, writes.Conflict):
        return error(409, f"{exc.field}: {exc.message}" if exc.field else exc.message, "uniqueness")
    if isinstance(exc, NotAllowed):
        return error(403, exc.message)
    return error(exc.http_status, exc.message)


def _authenticate(request: HttpRequest) -> Actor | None:
    parts = request.headers.get("Authorization", "").split()
    raw = parts[1] if len(parts) == 2 and parts[0].lower() == "bearer" else ""
    token = writes.scim_token_authenticate(raw) if raw else None
    if token is not None:
        return writes.scim_actor(token)
    well_formed = bool(raw) and token_format.is_well_formed(raw)
    # Recorded like a refused API token: its display prefix or "malformed", never itself.
    security_token_denied(
        token=None,
        presented=token_format.display_prefix(raw) if well_formed else "malformed",
        why="unknown" if well_formed else "malformed",
        source_address=source_address(request),
        operation=f"{request.method} {request.path}",
        now=timezone.now(),
    )
    return None


def scim_endpoint(*methods: str) -> Callable:
    """Off unless NHI_SCIM_ENABLED (404 like any unknown URL); a SCIM token required."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @csrf_exempt
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not settings.NHI_SCIM_ENABLED:
                return error(404, "Not found.")
            actor = _authenticate(request)
            if actor is None:
                return error(401, "A valid SCIM bearer token is required.")
            if request.method not in methods:
                return error(405, f"{request.method} is not supported here.")
            try:
                return view(request, actor, *args, **kwargs)
            except ScimError as exc:
                return error(exc.status, exc.detail, exc.scim_type)
            except PatchError as exc:
                return error(400, exc.message, exc.scim_type)
            except FilterError as exc:
                return error(400, str(exc), "invalidFilter")
            except ServiceError as exc:
                return _service_error(exc)

        return wrapper

    return decorate


def _body(request: HttpRequest) -> Any:
    try:
        data = json.loads(request.body or b"null")
    except (ValueError, RecursionError) as exc:
        raise ScimError(400, "The body is not valid JSON.", "invalidSyntax") from exc
    if errors := unsafe_input_errors(data):
        field, messages = next(iter(errors.items()))
        raise ScimError(400, f"{field}: {messages[0]}", "invalidValue")
    if not isinstance(data, dict):
        raise ScimError(
            400, f"Expected a JSON object (at most {MAX_INPUT_DEPTH} deep).", "invalidSyntax"
        )
    return data


def _check_version(request: HttpRequest, current: dict) -> None:
    wanted = request.headers.get("If-Match", "")
    if wanted and wanted.strip() != "*" and current["meta"]["version"] not in _etags(wanted):
        raise ScimError(412, "The resource changed since you read it (If-Match).")


def _etags(header: str) -> set[str]:
    return {tag.strip() for tag in header.split(",")}


def _not_modified(request: HttpRequest, current: dict) -> bool:
    return current["meta"]["version"] in _etags(request.headers.get("If-None-Match", ""))


def _params(request: HttpRequest) -> dict[str, Any]:
    """The query parameters of a list or a GET, or a POST /.search body's (RFC 7644
    3.4.3): filter, startIndex, count, attributes, excludedAttributes."""
    if request.method == "POST":
        body = {str(k).lower(): v for k, v in _body(request).items()}
        listed = {k: body.get(k.lower()) for k in ("attributes", "excludedAttributes")}
        params = {k: ",".join(map(str, v)) if isinstance(v, list) else v for k, v in listed.items()}
        params.update({k: body.get(k.lower()) for k in ("filter", "startIndex", "count")})
        return {k: v for k, v in params.items() if v is not None}
    return request.GET.dict()


def _shaped(params: dict[str, Any], body: dict) -> dict:
    return project(
        body,
        str(params.get("attributes", "")).split(","),
        str(params.get("excludedAttributes", "")).split(","),
    )


def _page(params: dict[str, Any], rows: Any, render: Callable[[Any], dict]) -> HttpResponse:
    try:
        start = max(int(params.get("startIndex", 1)), 1)
        count = int(params.get("count", settings.NHI_SCIM_MAX_RESULTS))
    except (TypeError, ValueError, OverflowError) as exc:
        raise ScimError(400, "startIndex and count must be integers.", "invalidValue") from exc
    count = min(max(count, 0), settings.NHI_SCIM_MAX_RESULTS)
    total = rows.count()
    # A startIndex past the end is an empty page (RFC 7644 3.4.2.4), never an OFFSET
    # the database cannot hold.
    window = rows[start - 1 : start - 1 + count] if count and start <= total else []
    page = [_shaped(params, render(row)) for row in window]
    return respond(
        {
            "schemas": [LIST_SCHEMA],
            "totalResults": total,
            "startIndex": start,
            "itemsPerPage": len(page),
            "Resources": page,
        }
    )


class _Both:
    """Users then groups as one sliceable, countable sequence (root POST /.search)."""

    def __init__(self, users: Any, groups: Any) -> None:
        self.users, self.groups = users, groups
        self.split = users.count()

    def count(self) -> int:
        return self.split + self.groups.count()

    def __getitem__(self, window: slice) -> list:
        start, stop = window.start or 0, window.stop
        rows = list(self.users[start:stop]) if start < self.split else []
        rest = self.groups[max(start - self.split, 0) : stop - self.split]
        return rows + list(rest) if stop > self.split else rows


def _render_any(row: Any) -> dict:
    return group_resource(row) if isinstance(row, Team) else user_resource(row)


@scim_endpoint("POST")
def search(request: HttpRequest, actor: Actor) -> HttpResponse:
    """POST /.search at the root: users and groups at once."""
    params = _params(request)
    both = _Both(
        _filtered(params, reads.scim_users(), groups=False, skip_unknown=True),
        _filtered(params, reads.scim_groups(), groups=True, skip_unknown=True),
    )
    return _page(params, both, _render_any)


def _filtered(
    params: dict[str, Any], rows: Any, *, groups: bool, skip_unknown: bool = False
) -> Any:
    text = params.get("filter", "")
    if not text:
        return rows
    if not isinstance(text, str):
        raise ScimError(400, "filter must be a string.", "invalidFilter")
    q = reads.filter_q(parse_filter(text), groups=groups)
    if q is None and skip_unknown:  # root search: this type has no such attribute
        return rows.none()
    if q is None:
        raise ScimError(400, "Filtering on that attribute is not supported.", "invalidFilter")
    return rows.filter(q).distinct()


# --- discovery ------------------------------------------------------------------------


@scim_endpoint("GET")
def service_provider_config(request: HttpRequest, actor: Actor) -> HttpResponse:
    return respond(discovery.service_provider_config())


@scim_endpoint("GET")
def resource_types(request: HttpRequest, actor: Actor, name: str = "") -> HttpResponse:
    return _discovered(request, discovery.resource_types(), name)


@scim_endpoint("GET")
def schemas(request: HttpRequest, actor: Actor, name: str = "") -> HttpResponse:
    return _discovered(request, discovery.schemas(), name)


def _discovered(request: HttpRequest, items: list[dict], name: str) -> HttpResponse:
    if name:
        found = next((item for item in items if item["id"] == name), None)
        return respond(found) if found else error(404, f"No {name!r} here.")
    body = {
        "schemas": [LIST_SCHEMA],
        "totalResults": len(items),
        "startIndex": 1,
        "itemsPerPage": len(items),
        "Resources": items,
    }
    return respond(body)


# --- users ----------------------------------------------------------------------------


@scim_endpoint("GET", "POST")
def users(request: HttpRequest, actor: Actor) -> HttpResponse:
    if request.method == "POST":
        state = user_state_from(_body(request))
        user = writes.scim_user_create(actor=actor, state=state)
        return _created(request, user_resource(reads.scim_users().get(pk=user.pk)))
    params = _params(request)
    return _page(params, _filtered(params, reads.scim_users(), groups=False), user_resource)


@scim_endpoint("POST")
def users_search(request: HttpRequest, actor: Actor) -> HttpResponse:
    params = _params(request)
    return _page(params, _filtered(params, reads.scim_users(), groups=False), user_resource)


@scim_endpoint("GET", "PUT", "PATCH", "DELETE")
def user(request: HttpRequest, actor: Actor, pk: str) -> HttpResponse:
    with transaction.atomic():
        if request.method != "GET":
            writes.scim_write_lock()  # before the read a PATCH is applied to
        found = reads.scim_user(pk)
        if found is None:
            return error(404, f"No user {pk!r}.")
        current = user_resource(found)
        if request.method == "GET":
            return _get(request, current)
        _check_version(request, current)
        if request.method == "DELETE":
            writes.scim_user_delete(actor=actor, user=found)
            return HttpResponse(status=204)
        if request.method == "PUT":
            state = user_state_from(_body(request))
        else:
            patched = apply_patch(_editable(current), _body(request), USER_KEYS, USER_REQUIRED)
            state = user_state_from(patched)
        writes.scim_user_replace(actor=actor, user=found, state=state)
        after = user_resource(reads.scim_users().get(pk=found.pk))
    return respond(_shaped(request.GET.dict(), after), etag=after["meta"]["version"])


# --- groups ---------------------------------------------------------------------------


@scim_endpoint("GET", "POST")
def groups(request: HttpRequest, actor: Actor) -> HttpResponse:
    if request.method == "POST":
        team = writes.scim_group_create(actor=actor, state=group_state_from(_body(request)))
        return _created(request, group_resource(reads.scim_groups().get(pk=team.pk)))
    params = _params(request)
    return _page(params, _filtered(params, reads.scim_groups(), groups=True), group_resource)


@scim_endpoint("POST")
def groups_search(request: HttpRequest, actor: Actor) -> HttpResponse:
    params = _params(request)
    return _page(params, _filtered(params, reads.scim_groups(), groups=True), group_resource)


@scim_endpoint("GET", "PUT", "PATCH", "DELETE")
def group(request: HttpRequest, actor: Actor, pk: str) -> HttpResponse:
    with transaction.atomic():
        if request.method != "GET":
            writes.scim_write_lock()  # before the read a PATCH is applied to
        found = reads.scim_group(pk)
        if found is None:
            return error(404, f"No group {pk!r}.")
        current = group_resource(found)
        if request.method == "GET":
            return _get(request, current)
        _check_version(request, current)
        if request.method == "DELETE":
            writes.scim_group_delete(actor=actor, team=found)
            return HttpResponse(status=204)
        if request.method == "PUT":
            state = group_state_from(_body(request))
        else:
            patched = apply_patch(_editable(current), _body(request), GROUP_KEYS, GROUP_REQUIRED)
            state = group_state_from(patched)
        writes.scim_group_replace(actor=actor, team=found, state=state)
        after = group_resource(reads.scim_groups().get(pk=found.pk))
    return respond(_shaped(request.GET.dict(), after), etag=after["meta"]["version"])


def _editable(current: dict) -> dict:
    """The representation a PATCH changes: without what the server alone sets."""
    return {k: v for k, v in current.items() if k not in ("meta", "id", "schemas", "groups")}


def _get(request: HttpRequest, current: dict) -> HttpResponse:
    version = current["meta"]["version"]
    if _not_modified(request, current):
        response = HttpResponse(status=304)
        response["ETag"] = version
        return response
    return respond(_shaped(request.GET.dict(), current), etag=version)


def _created(request: HttpRequest, body: dict) -> HttpResponse:
    response = respond(_shaped(request.GET.dict(), body), 201, etag=body["meta"]["version"])
    response["Location"] = body["meta"]["location"]
    return response


@csrf_exempt
def not_found(request: HttpRequest, rest: str = "") -> HttpResponse:
    """Any other URL under /scim/v2/: a SCIM 404 (clients probe unknown endpoints)."""
    if settings.NHI_SCIM_ENABLED and _authenticate(request) is None:
        return error(401, "A valid SCIM bearer token is required.")
    return error(404, "Not found.")
