"""The inventory: the shared FilterSet as a form, sorting, keyset pages, CSV export of
the current filter, and each person's saved filters."""

from __future__ import annotations

import csv
from collections.abc import Iterator

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from registry import services
from registry.errors import Invalid, ServiceError
from registry.filters import AccessPathFilterSet
from registry.forms import SavedFilterForm, apply_service_errors
from registry.models import AccessPath, SavedFilter
from registry.pagination import DEFAULT_SORT, SORTS, keyset_page
from registry.selectors import path_list as select_paths
from registry.selectors import saved_filters
from registry.views._common import actor_for, request_now

PAGE_SIZE = 50
# Query keys that steer the page rather than select paths.
PAGE_KEYS = frozenset({"cursor", "sort"})
# Shown first in the filter form; the rest fold under "More filters".
PRIMARY_FILTERS = frozenset({"q", "status", "owner_team", "posture", "risk_tier", "environment"})
MULTI_VALUED = frozenset({"status", "kind", "environment", "risk_tier", "created_via"})
CSV_COLUMNS = [
    "id", "name", "kind", "system", "external_id", "environment", "status", "owner_team",
    "steward_team", "created_via", "created_by_ref", "consumers", "ticket_url",
    "artifact_ref", "justification", "privilege_scope", "risk_tier", "data_classification",
    "credential_lifetime", "rotation_days", "last_rotated_at", "last_used_at",
    "requires_human_signoff", "revocation_plan", "expires_at", "review_interval_days",
    "last_attested_at", "next_review_at", "escalation_stage", "version", "created_at",
    "updated_at",
]  # fmt: skip


def filters_from(query: QueryDict) -> dict:
    return {
        key: query.getlist(key) if key in MULTI_VALUED else query[key]
        for key in query
        if key not in PAGE_KEYS and query.get(key)
    }


def _filter_form(request: HttpRequest):
    return AccessPathFilterSet(data=request.GET or None, now=request_now(request)).form


def _saved_form(request: HttpRequest, query: str, form: SavedFilterForm | None = None):
    return form or SavedFilterForm(initial={"query": query})


def _render_list(request: HttpRequest, *, saved_form=None, status: int = 200) -> HttpResponse:
    actor = actor_for(request)
    sort = SORTS.get(request.GET.get("sort", ""), DEFAULT_SORT)
    error = ""
    rows: list[AccessPath] = []
    next_cursor = None
    try:
        qs = select_paths(actor=actor, filters=filters_from(request.GET), now=request_now(request))
        rows, next_cursor = keyset_page(
            qs.prefetch_related("tags"), request.GET.get("cursor"), PAGE_SIZE, sort
        )
    except Invalid as exc:
        error = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.errors.items())
        status = 400
    current = request.GET.copy()
    current.pop("cursor", None)
    next_query = current.copy()
    if next_cursor:
        next_query["cursor"] = next_cursor
    filters_only = current.copy()
    filters_only.pop("sort", None)
    context = {
        "page": rows,
        "filter_form": _filter_form(request),
        "primary_filters": PRIMARY_FILTERS,
        "more_filters_used": any(
            request.GET.get(key) for key in request.GET if key not in PRIMARY_FILTERS | PAGE_KEYS
        ),
        "sorts": SORTS.values(),
        "sort": sort,
        "next_cursor": next_cursor,
        "next_query": next_query.urlencode() if next_cursor else "",
        "first_query": current.urlencode(),
        "is_first_page": not request.GET.get("cursor"),
        "filters_query": filters_only.urlencode(),
        "filtered": bool(filters_from(request.GET)),
        "error": error,
        "saved": saved_filters(user=request.user),
        "saved_form": _saved_form(request, filters_only.urlencode(), saved_form),
    }
    template = "registry/path_list.html"
    if request.headers.get("HX-Request") and request.headers.get("HX-Target") == "results":
        template = "registry/_path_results.html"
    return render(request, template, context, status=status)


@login_required
def path_list(request: HttpRequest) -> HttpResponse:
    return _render_list(request)


def _csv_safe(value) -> str:
    """A spreadsheet must not run a cell as a formula (CSV injection)."""
    text = "" if value is None else str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


class _Echo:
    def write(self, value: str) -> str:
        return value


@login_required
def path_export_csv(request: HttpRequest) -> HttpResponse:
    """Every path the current filter selects, streamed in chunks (constant memory)."""
    actor = actor_for(request)
    try:
        qs = select_paths(actor=actor, filters=filters_from(request.GET), now=request_now(request))
    except Invalid as exc:
        return HttpResponse(exc.message, status=400, content_type="text/plain")
    writer = csv.writer(_Echo())

    def rows() -> Iterator[str]:
        yield writer.writerow([*CSV_COLUMNS, "tags"])
        for path in qs.order_by("created_at", "id").prefetch_related("tags").iterator(2000):
            values = []
            for column in CSV_COLUMNS:
                if column in ("owner_team", "steward_team"):
                    team = getattr(path, column)
                    values.append(_csv_safe(team.slug) if team else "")
                else:
                    values.append(_csv_safe(getattr(path, column)))
            values.append(" ".join(tag.slug for tag in path.tags.all()))
            yield writer.writerow(values)

    stamp = request_now(request).strftime("%Y%m%dT%H%M%SZ")
    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="nhi-paths-{stamp}.csv"'
    return response


@login_required
@require_POST
def saved_filter_create(request: HttpRequest) -> HttpResponse:
    form = SavedFilterForm(request.POST)
    query = request.POST.get("query", "")
    if form.is_valid():
        try:
            services.saved_filter_create(
                actor=actor_for(request),
                name=form.cleaned_data["name"],
                query=query,
                now=request_now(request),
            )
        except ServiceError as exc:
            if isinstance(exc, Invalid):
                apply_service_errors(form, exc)
            else:
                form.add_error(None, exc.message)
        else:
            messages.success(request, f"Saved “{form.cleaned_data['name']}”.")
            return redirect(f"{reverse('registry:path-list')}?{query}")
    request.GET = QueryDict(query)
    return _render_list(request, saved_form=form, status=400)


@login_required
@require_POST
def saved_filter_archive(request: HttpRequest, saved_id: int) -> HttpResponse:
    saved = SavedFilter.objects.filter(
        pk=saved_id, user=request.user, archived_at__isnull=True
    ).first()
    if saved is None:
        raise Http404("No such saved filter.")
    services.saved_filter_archive(actor=actor_for(request), saved=saved, now=request_now(request))
    messages.success(request, f"Removed “{saved.name}”.")
    return redirect("registry:path-list")
