"""HTML pages for people. Thin: reads through selectors, changes through services."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from registry.actors import Actor
from registry.errors import Invalid
from registry.pagination import keyset_page
from registry.selectors import path_list as select_paths
from registry.status import Status

PAGE_SIZE = 50


@login_required
def path_list(request: HttpRequest) -> HttpResponse:
    actor = Actor.for_user(request.user)
    filters = {
        key: request.GET.getlist(key) if key == "status" else request.GET[key]
        for key in request.GET
        if key != "cursor" and request.GET.get(key)
    }
    error = ""
    try:
        rows, next_cursor = keyset_page(
            select_paths(actor=actor, filters=filters), request.GET.get("cursor"), PAGE_SIZE
        )
    except Invalid as exc:
        rows, next_cursor, error = [], None, exc.message
    next_query = request.GET.copy()
    if next_cursor:
        next_query["cursor"] = next_cursor
    return render(
        request,
        "registry/path_list.html",
        {
            "page": rows,
            "statuses": Status.choices,
            "selected_status": request.GET.get("status", ""),
            "next_cursor": next_cursor,
            "next_query": next_query.urlencode(),
            "error": error,
        },
    )
