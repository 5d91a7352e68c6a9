"""HTML pages for people. Thin: reads through selectors, changes through services."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from registry.actors import Actor
from registry.errors import Invalid
from registry.messages import describe_notification
from registry.pagination import keyset_page
from registry.selectors import (
    path_get,
    path_notifications,
    path_timeline,
    reminder_preview,
    team_for_reader,
)
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


ESCALATION_WORDS = {
    0: "not escalated",
    1: "overdue: the owning team was told",
    2: "escalated to the team's leads",
    3: "escalated to security",
    4: "lapsed: in security's queue, revocation recommended",
}


@login_required
def path_detail(request: HttpRequest, path_id: str) -> HttpResponse:
    actor = Actor.for_user(request.user)
    path = path_get(actor=actor, path_id=path_id)
    if path is None:
        raise Http404("No such access path.")
    notifications = [(n, describe_notification(n)) for n in path_notifications(path=path)]
    return render(
        request,
        "registry/path_detail.html",
        {
            "path": path,
            "escalation": ESCALATION_WORDS.get(path.escalation_stage, ""),
            "notifications": notifications,
            "timeline": path_timeline(path=path)[:200],
        },
    )


@login_required
def team_reminders(request: HttpRequest, slug: str) -> HttpResponse:
    """What this team will be reminded of in the next 30 days (members and security)."""
    actor = Actor.for_user(request.user)
    team = team_for_reader(actor=actor, slug=slug)
    if team is None:
        raise Http404("No such team.")
    return render(
        request,
        "registry/team_reminders.html",
        {"team": team, "upcoming": reminder_preview(team=team), "days": 30},
    )
