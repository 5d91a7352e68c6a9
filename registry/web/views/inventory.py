"""The inventory: the shared FilterSet as a form, sorting, keyset pages, CSV export of
the current filter, and each person's saved filters."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Container
from functools import lru_cache

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Q, QuerySet
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    QueryDict,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.utils.formats import date_format
from django.utils.html import format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.timezone import localtime
from django.utils.translation import get_language
from django.views.decorators.http import require_POST

from registry import services
from registry.models import AccessPath, SavedFilter, Team
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
from registry.selectors.paths import attach_status
from registry.services.exports import export_request, export_streamed
from registry.templatetags.registry_tags import status_label
from registry.web.bulk_forms import (
    BULK_TRANSFER_TEAM,
    bulk_forms,
    row_value,
    take_outcome,
)
from registry.web.forms import (
    TEAM_FILTERS,
    TEAM_SUGGESTIONS,
    SavedFilterForm,
    apply_service_errors,
    inventory_filter_form,
    suggestions_id,
)
from registry.web.views._common import actor_for, request_now

PAGE_SIZE = 50
# Stands in for a path's id in the detail URL reversed once per page.
_PK_PLACEHOLDER = uuid.UUID(int=0)
# Query keys that steer the page rather than select paths ("select=page" ticks every
# row shown: "select all on this page" without JavaScript).
PAGE_KEYS = frozenset({"cursor", "sort", "select"})
# Shown first in the filter form; the rest fold under "More filters".
PRIMARY_FILTERS = frozenset({"q", "status", "owner_team", "posture", "risk_tier", "environment"})
# Filters whose values are fixed choices (no free text): their form is cached rendered.
CHOICE_FILTERS = frozenset(
    {"status", "kind", "environment", "risk_tier", "created_via", "posture", "has_exception",
     "not_seen", "credential_lifetime", "requires_human_signoff", "interactive_login",
     "issuer", "issuer_kind", "has_provenance"}
)  # fmt: skip
MULTI_VALUED = frozenset(
    {"status", "kind", "environment", "risk_tier", "created_via", "credential_lifetime",
     "issuer_kind"}
)  # fmt: skip


_ROW = (
    '<tr><td class="select"><input type="checkbox" name="selected" value="{}" '
    'aria-label="Select {}" form="bulk-form"{}></td>'
    '<td><a href="{}">{}</a><br><small>{}</small></td>'
    '<td><span class="badge status-{}">{}</span></td><td>{}</td><td>{}</td><td>{}</td>'
    '<td>{}</td><td><span class="risk risk-{}">{}</span></td>'
    '<td class="date">{}</td><td class="date">{}</td></tr>'
)
_NO_OWNER = mark_safe('<span class="muted">none</span>')
_CHECKED = mark_safe(" checked")


@lru_cache(maxsize=4096)
def _day_text(day: dt.date, language: str | None) -> str:
    # Formatting a date (the month's name goes through translation) cost a millisecond
    # a cell; a page has a hundred dates, mostly days seen before.
    return date_format(day, "j M Y")


def _day(value: dt.datetime | None, default: str) -> str:
    """The template's `date:"j M Y"` (in the current time zone), or `default`."""
    if value is None:
        return default
    return _day_text(localtime(value).date(), get_language())


def rows_html(rows: list[AccessPath], *, checked: Container[str] | bool = ()) -> SafeString:
    """The inventory table's rows (templates/registry/_path_table.html), written in Python:
    fifty rows through the template engine (an include, a URL reversal and two date
    filters per row) cost as much as the rest of the page. Every value is escaped by
    format_html; the template's loop stays the one the other lists use.

    Each row starts with its checkbox for the bulk bar (web/bulk_forms.row_value);
    `checked`: True ticks every row, else the row values to tick (a refused bulk form
    shown again keeps its selection)."""
    link = reverse("registry:path-detail", args=[_PK_PLACEHOLDER])
    values = [row_value(path) for path in rows]
    return format_html_join(
        "",
        _ROW,
        (
            (
                value,
                path.name,
                _CHECKED if checked is True or (checked and value in checked) else "",
                link.replace(str(_PK_PLACEHOLDER), str(path.pk)),
                path.name,
                path.external_id,
                path.status,  # type: ignore[attr-defined]  # attach_status
                status_label(path.status),  # type: ignore[attr-defined]
                path.get_kind_display(),
                path.system,
                path.get_environment_display(),
                path.owner_team.slug if path.owner_team else _NO_OWNER,
                path.risk_tier,
                path.get_risk_tier_display(),
                _day(path.next_review_at, "—"),
                _day(path.expires_at, "never"),
            )
            for path, value in zip(rows, values, strict=True)
        ),
    )


def without_empty(query: QueryDict) -> QueryDict:
    """The query without its empty values: a filter form sends every field, and a URL (or
    a saved filter) carrying a dozen empty parameters says nothing more than one without."""
    kept = QueryDict(mutable=True)
    for key in query:
        if values := [value for value in query.getlist(key) if value.strip()]:
            kept.setlist(key, values)
    return kept


def filters_from(query: QueryDict) -> dict:
    return {
        key: query.getlist(key) if key in MULTI_VALUED else query[key]
        for key in query
        if key not in PAGE_KEYS and query.get(key)
    }


def _filter_form(request: HttpRequest, data):
    form = AccessPathFilterSet(data=data or None, now=request_now(request)).form
    return inventory_filter_form(form, url=reverse("registry:path-list"))


def _fields_context(form, keys) -> dict:
    return {
        "filter_form": form,
        "primary_filters": PRIMARY_FILTERS,
        "team_filters": TEAM_FILTERS,
        "more_filters_used": any(key not in PRIMARY_FILTERS | PAGE_KEYS for key in keys),
    }


@lru_cache(maxsize=64)
def _choice_filter_fields(key: tuple[tuple[str, tuple[str, ...]], ...], url: str) -> SafeString:
    """The filter form's fields when only fixed-choice filters are set (the unfiltered
    first page above all): the same HTML for everyone, rendered once per process. The
    form's widgets go through the template engine one by one (a fieldset of checkboxes
    is an include per option), which cost as much as the rest of the page. No free text
    reaches this cache, so nobody's search is kept in memory."""
    data = QueryDict(mutable=True)
    for name, values in key:
        data.setlist(name, list(values))
    # Bound as the page binds it: no data is an unbound form (no errors shown).
    form = inventory_filter_form(AccessPathFilterSet(data=data or None).form, url=url)
    html = render_to_string("registry/_filter_fields.html", _fields_context(form, data))
    return mark_safe(html)  # noqa: S308 - rendered by the template engine, escaped there


def filter_fields(request: HttpRequest, shown: QueryDict) -> SafeString:
    """The filter form's fields for the values `shown` (cached when all are choices)."""
    url = reverse("registry:path-list")
    keys = [key for key in shown if key not in PAGE_KEYS and any(shown.getlist(key))]
    if all(key in CHOICE_FILTERS for key in keys):
        return _choice_filter_fields(tuple(sorted((k, tuple(shown.getlist(k))) for k in keys)), url)
    form = _filter_form(request, shown)
    context = _fields_context(form, keys)
    return mark_safe(  # noqa: S308 - rendered by the template engine, escaped there
        render_to_string("registry/_filter_fields.html", context, request=request)
    )


def team_suggestions(request: HttpRequest, name: str, teams: QuerySet[Team]) -> HttpResponse:
    """The datalist a TeamSuggestInput loads as one types (web/forms.py): up to
    TEAM_SUGGESTIONS of `teams` whose slug or name contains the text so far."""
    typed = request.GET.get(name, "").strip()
    if typed:
        teams = teams.filter(Q(slug__icontains=typed) | Q(name__icontains=typed))
    context = {
        "list_id": suggestions_id(name),
        "teams": list(teams.order_by("slug").only("slug", "name")[:TEAM_SUGGESTIONS]),
    }
    return render(request, "registry/_team_suggestions.html", context)


def suggestions_wanted(request: HttpRequest, names) -> str | None:
    """The team field whose suggestions this HTMX request asks for, if it is one."""
    if not request.headers.get("HX-Request"):
        return None
    target = request.headers.get("HX-Target", "")
    return next((name for name in names if target == suggestions_id(name)), None)


def _saved_form(request: HttpRequest, query: str, form: SavedFilterForm | None = None):
    return form or SavedFilterForm(initial={"query": query})


def render_list(
    request: HttpRequest, *, saved_form=None, status: int = 200, bulk: dict | None = None
) -> HttpResponse:
    """The inventory for request.GET. `bulk`: the bulk bar's forms, error, open action and
    ticked rows when a bulk request was refused (views/bulk_paths.py); otherwise the
    outcome of the last bulk action, if one is waiting, is shown (once)."""
    actor = actor_for(request)
    now = request_now(request)
    sort = SORTS.get(request.GET.get("sort", ""), DEFAULT_SORT)
    error = ""
    rows: list[AccessPath] = []
    next_cursor = None
    try:
        # The status of the 50 rows shown, in Python: not status_case in the query.
        qs = select_paths(
            actor=actor, filters=filters_from(request.GET), now=now, with_status=False
        )
        rows, next_cursor = keyset_page(qs, request.GET.get("cursor"), PAGE_SIZE, sort)
        attach_status(rows, now=now)
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
        "rows_html": rows_html(rows, checked=_ticked(request, bulk)),
        "filter_fields": filter_fields(request, shown),
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
        "bulk": bulk or {"forms": bulk_forms(), "open": ""},
        "back_query": _without_select(current).urlencode(),
        "select_all_query": _with_select(current).urlencode(),
    }
    outcome = take_outcome(request.session) if bulk is None else None
    if outcome is not None:
        context["bulk_title"], context["outcome"] = outcome
    template = "registry/path_list.html"
    if request.headers.get("HX-Request") and request.headers.get("HX-Target") == "results":
        template = "registry/_path_results.html"
    response = render(request, template, context, status=status)
    if outcome is not None:
        # Shown once: a copy from the cache would show it again, or to nobody's purpose.
        patch_cache_control(response, no_store=True)
    return response


def _ticked(request: HttpRequest, bulk: dict | None) -> Container[str] | bool:
    if bulk is not None:
        return bulk["checked"]
    return request.GET.get("select") == "page"


def _without_select(query: QueryDict) -> QueryDict:
    query = query.copy()
    query.pop("select", None)
    return query


def _with_select(query: QueryDict) -> QueryDict:
    query = _without_select(query)
    query["select"] = "page"
    return query


@login_required
def path_list(request: HttpRequest) -> HttpResponse:
    if name := suggestions_wanted(request, TEAM_FILTERS):
        # Any team may be filtered by, inactive ones included.
        return team_suggestions(request, name, Team.objects.all())
    if suggestions_wanted(request, (BULK_TRANSFER_TEAM,)):
        # The bulk bar's transfer input (web/bulk_forms.BulkTransferForm): active teams.
        return team_suggestions(request, BULK_TRANSFER_TEAM, Team.objects.filter(is_active=True))
    if any(not value.strip() for _, values in request.GET.lists() for value in values):
        # The filter form sends its empty fields too: the same page at a URL without them.
        kept = without_empty(request.GET)
        url = reverse("registry:path-list")
        return redirect(f"{url}?{kept.urlencode()}" if kept else url)
    return render_list(request)


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
    # Stored as the URL the inventory would use: without empty parameters.
    query = without_empty(QueryDict(request.POST.get("query", ""))).urlencode()
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
    return render_list(request, saved_form=form, status=400)


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
