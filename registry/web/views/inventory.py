"""The inventory: the shared FilterSet as a form, sorting, keyset pages, CSV export of
the current filter, and each person's saved filters."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    QueryDict,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from registry import services
from registry.models import AccessPath, SavedFilter
from registry.rules.errors import Invalid, ServiceError
from registry.rules.exports import runs_in_background
from registry.selectors import path_list as select_paths
from registry.selectors import saved_filters
from registry.selectors.exports import (
    CONTENT_TYPES,
    count_up_to,
    export_file_name,
    export_pieces,
)
from registry.selectors.filters import AccessPathFilterSet
from registry.selectors.pagination import DEFAULT_SORT, SORTS, keyset_page
from registry.services.exports import export_request, export_streamed
from registry.web.forms import SavedFilterForm, apply_service_errors
from registry.web.views._common import actor_for, request_now

PAGE_SIZE = 50
# Query keys that steer the page rather than select paths.
PAGE_KEYS = frozenset({"cursor", "sort"})
# Shown first in the filter form; the rest fold under "More filters".
PRIMARY_FILTERS = frozenset({"q", "status", "owner_team", "posture", "risk_tier", "environment"})
MULTI_VALUED = frozenset({"status", "kind", "environment", "risk_tier", "created_via"})


def filters_from(query: QueryDict) -> dict:
    return {
        key: query.getlist(key) if key in MULTI_VALUED else query[key]
        for key in query
        if key not in PAGE_KEYS and query.get(key)
    }


def _filter_form(request: HttpRequest, data):
    return AccessPathFilterSet(data=data or None, now=request_now(request)).form


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
        refused = set(exc.errors)
    else:
        refused = set()
    # A refused value (a credential typed into the search box) is not echoed back into
    # the form, the links or a saved filter.
    shown = request.GET.copy()
    for key in refused:
        shown.pop(key, None)
    current = shown.copy()
    current.pop("cursor", None)
    next_query = current.copy()
    if next_cursor:
        next_query["cursor"] = next_cursor
    filters_only = current.copy()
    filters_only.pop("sort", None)
    context = {
        "page": rows,
        "filter_form": _filter_form(request, shown),
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


@login_required
def path_export(request: HttpRequest, fmt: str) -> HttpResponseBase:
    """Every path the current filter selects, as CSV or JSON. Up to
    NHI_EXPORT_INLINE_MAX_ROWS paths stream in the response; more are written by a
    worker and the person is sent to the export's page: a download that outlives the
    web server's timeout would arrive cut short, with a 200."""
    if fmt not in CONTENT_TYPES:
        raise Http404("No such export format.")
    actor = actor_for(request)
    now = request_now(request)
    filters = filters_from(request.GET)
    try:
        qs = select_paths(actor=actor, filters=filters, now=now)
    except Invalid as exc:
        return HttpResponse(exc.message, status=400, content_type="text/plain")
    limit = settings.NHI_EXPORT_INLINE_MAX_ROWS
    counted = count_up_to(qs, limit + 1)
    if runs_in_background(counted, inline_max_rows=limit):
        run = export_request(actor=actor, fmt=fmt, filters=filters, now=now)
        return redirect("registry:export-detail", run_id=run.pk)
    export_streamed(actor=actor, fmt=fmt, filters=filters, rows=counted, now=now)
    response = StreamingHttpResponse(export_pieces(qs, fmt), content_type=CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="{export_file_name(fmt, now)}"'
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
            apply_service_errors(form, exc)
        else:
            messages.success(request, f"Saved “{form.cleaned_data['name']}”.")
            return redirect(f"{reverse('registry:path-list')}?{query}")
    request.GET = QueryDict(query)
    return _render_list(request, saved_form=form, status=400)


@login_required
@require_POST
def saved_filter_archive(request: HttpRequest, saved_id: int) -> HttpResponse:
    user = request.user
    if not user.is_authenticated:  # login_required: never
        raise Http404("No such saved filter.")
    saved = SavedFilter.objects.filter(pk=saved_id, user=user, archived_at__isnull=True).first()
    if saved is None:
        raise Http404("No such saved filter.")
    services.saved_filter_archive(actor=actor_for(request), saved=saved, now=request_now(request))
    messages.success(request, f"Removed “{saved.name}”.")
    return redirect("registry:path-list")
