"""Work queues: my teams' reviews and transfers, unclaimed paths, security's queues."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from registry import services
from registry.models import AccessPath, Notification
from registry.rules import permissions
from registry.rules.errors import ServiceError
from registry.rules.policies import current_policy
from registry.selectors import (
    UpcomingReminder,
    actor_teams,
    dead_notifications,
    pending_claims,
    pending_exceptions,
    reminder_preview,
    transfers_waiting_for,
)
from registry.selectors import path_list as select_paths
from registry.selectors.pagination import SORTS, keyset_page
from registry.selectors.source_queue import source_queue
from registry.web.views._common import actor_for, request_now

QUEUE_SIZE = 50
DUE_STATUSES = ["review_due", "overdue", "lapsed"]


@login_required
def my_teams(request: HttpRequest) -> HttpResponse:
    actor = actor_for(request)
    now = request_now(request)
    teams = list(actor_teams(actor=actor))
    due: list[AccessPath] = []
    upcoming: list[UpcomingReminder] = []
    if teams:
        due, _ = keyset_page(
            select_paths(
                actor=actor,
                filters={"status": DUE_STATUSES},
                now=now,
            ).filter(owner_team__in=teams),
            None,
            QUEUE_SIZE,
            SORTS["review"],
        )
        # A person in two teams (an owner and a steward) sees a shared notice once.
        coming = {r for team in teams for r in reminder_preview(team=team, now=now)}
        upcoming = sorted(
            coming, key=lambda r: (r.at, str(r.path.pk), r.reason, r.recipient.team_id)
        )
    return render(
        request,
        "registry/queue_mine.html",
        {
            "teams": teams,
            "due": due,
            "transfers": list(transfers_waiting_for(actor=actor)[:QUEUE_SIZE]),
            "upcoming": upcoming[:200],
            "days": 30,
        },
    )


@login_required
def unclaimed(request: HttpRequest) -> HttpResponse:
    actor = actor_for(request)
    rows, next_cursor = keyset_page(
        select_paths(actor=actor, filters={"status": ["unowned"]}, now=request_now(request)),
        request.GET.get("cursor"),
        QUEUE_SIZE,
    )
    return render(
        request, "registry/queue_unclaimed.html", {"page": rows, "next_cursor": next_cursor}
    )


def security_only(request: HttpRequest) -> None:
    """Security's pages do not exist for anyone else (rules/permissions.py)."""
    if not permissions.may_use_security_pages(actor_for(request)):
        raise Http404("No such page.")


@login_required
def security_queues(request: HttpRequest) -> HttpResponse:
    security_only(request)
    actor = actor_for(request)
    now = request_now(request)
    policy = current_policy()
    lapsed, _ = keyset_page(
        select_paths(actor=actor, filters={"status": ["lapsed"]}, now=now),
        None,
        QUEUE_SIZE,
        SORTS["review"],
    )
    return render(
        request,
        "registry/queue_security.html",
        {
            "claims": list(pending_claims()[:QUEUE_SIZE]),
            "exceptions": list(pending_exceptions()[:QUEUE_SIZE]),
            "lapsed": lapsed,
            "dead": list(dead_notifications()[:QUEUE_SIZE]),
            "source": source_queue(now=now, policy=policy, size=QUEUE_SIZE),
            "source_hours": policy.source_confirmation_hours,
        },
    )


@login_required
@require_POST
def notification_retry(request: HttpRequest, notification_id: int) -> HttpResponse:
    security_only(request)
    notification = Notification.objects.filter(pk=notification_id).first()
    if notification is None:
        raise Http404("No such notification.")
    try:
        services.notification_retry(
            actor=actor_for(request), notification=notification, now=request_now(request)
        )
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("registry:queue-security")
    messages.success(request, "Queued again: it will be delivered on the next run.")
    return redirect("registry:queue-security")
