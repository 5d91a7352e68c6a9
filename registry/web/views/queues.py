"""Work queues: my teams' reviews and transfers, unclaimed paths, security's queues.

The decision queues (claims, transfers offered to my teams) show each request with its
path's context and decide it in place: a small form per row, through the same services
as the path page. With HTMX the row is swapped for its outcome and focus moves to the
next row (static/js/queues.js); without it the POST redirects back to the queue at the
next row."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from registry import services
from registry.models import AccessPath, Claim, Notification, Transfer
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
)
from registry.selectors import path_list as select_paths
from registry.selectors.my_work import QueueRow, claim_queue, queue_rows, transfer_queue
from registry.selectors.pagination import SORTS, keyset_page
from registry.selectors.source_queue import source_queue
from registry.web.forms import DecisionForm, ReasonRequiredForm
from registry.web.views._common import actor_for, error_status, request_now

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
    # Each transfer with its path's context, decided in place.
    transfer_rows = transfer_queue(actor=actor, now=now, policy=current_policy(), size=QUEUE_SIZE)
    return render(
        request,
        "registry/queue_mine.html",
        {
            "teams": teams,
            "due": due,
            "transfers": [row.request for row in transfer_rows],
            "transfer_rows": transfer_rows,
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


def security_context(request: HttpRequest) -> dict:
    """The security queues page's context (also under a bulk retry's results)."""
    actor = actor_for(request)
    now = request_now(request)
    policy = current_policy()
    lapsed, _ = keyset_page(
        select_paths(actor=actor, filters={"status": ["lapsed"]}, now=now),
        None,
        QUEUE_SIZE,
        SORTS["review"],
    )
    return {
        "claims": list(pending_claims()[:QUEUE_SIZE]),
        "exceptions": list(pending_exceptions()[:QUEUE_SIZE]),
        "lapsed": lapsed,
        "dead": list(dead_notifications()[:QUEUE_SIZE]),
        "source": source_queue(now=now, policy=policy, size=QUEUE_SIZE),
        "source_hours": policy.source_confirmation_hours,
    }


@login_required
def security_queues(request: HttpRequest) -> HttpResponse:
    security_only(request)
    return render(request, "registry/queue_security.html", security_context(request))


def claims_context(request: HttpRequest) -> dict:
    """The claim queue page's context (also under a bulk decision's results)."""
    rows = claim_queue(
        actor=actor_for(request),
        now=request_now(request),
        policy=current_policy(),
        size=QUEUE_SIZE,
    )
    return {"rows": rows, "decidable": sum(1 for row in rows if row.may_decide)}


@login_required
def claims(request: HttpRequest) -> HttpResponse:
    security_only(request)
    return render(request, "registry/queue_claims.html", claims_context(request))


def form_errors(form: forms.Form) -> str:
    """A form's errors in one line, each naming its field (the queue shows one line)."""
    return " ".join(
        f"{form.fields[name].label}: {error}" if name in form.fields else str(error)
        for name, errors in form.errors.items()
        for error in errors
    )


@dataclass(frozen=True)
class Decision:
    """One way to decide a request: the service call given the reason, what to say."""

    perform: Callable[[str], object]
    done: str
    needs_reason: bool


def decide_in_place(
    request: HttpRequest,
    row: QueueRow,
    decision: Decision | None,
    *,
    kind: str,
    queue_url: str,
) -> HttpResponse:
    """Validate the row's form and call the service. With HTMX: the row's outcome, or
    the row again with the refusal (the status the page's action would give). Without:
    back to the queue, at the next row on success, at this row on a refusal."""
    if decision is None:
        raise Http404("No such action.")
    form: forms.Form = (ReasonRequiredForm if decision.needs_reason else DecisionForm)(request.POST)
    error, status = "", 400
    if form.is_valid():
        try:
            decision.perform(form.cleaned_data["reason"])
        except ServiceError as exc:
            error, status = exc.message, error_status(exc)
    else:
        error = form_errors(form)
    htmx = request.headers.get("HX-Request") == "true"
    next_id = request.POST.get("next", "")
    row.next_id = int(next_id) if next_id.isdigit() else None
    if not error:
        if htmx:
            context = {"row": row, "kind": kind, "message": decision.done}
            return render(request, "registry/_queue_outcome.html", context)
        messages.success(request, decision.done)
        # Without JavaScript: back at the next row, which the form named.
        return redirect(queue_url + (f"#{kind}-{row.next_id}" if row.next_id else ""))
    if htmx:
        # The row again, fresh (its request may have been decided meanwhile), with why.
        (fresh,) = queue_rows(
            [row.request],
            kind=kind,
            actor=actor_for(request),
            now=request_now(request),
            policy=current_policy(),
        )
        fresh.next_id = row.next_id
        context = {"row": fresh, "error": error}
        return render(request, f"registry/_queue_{kind}.html", context, status=status)
    messages.error(request, error)
    return redirect(f"{queue_url}#{kind}-{row.request.pk}")


@login_required
@require_POST
def claim_decide(request: HttpRequest, claim_id: int, decision: str) -> HttpResponse:
    security_only(request)
    claim = Claim.objects.select_related("team", "path").filter(pk=claim_id).first()
    if claim is None:
        raise Http404("No such claim.")
    actor, now = actor_for(request), request_now(request)
    ways = {
        "approve": Decision(
            lambda reason: services.claim_approve(actor=actor, claim=claim, reason=reason, now=now),
            f"Approved: {claim.team.slug} owns {claim.path.name} now.",
            needs_reason=False,
        ),
        "reject": Decision(
            lambda reason: services.claim_reject(actor=actor, claim=claim, reason=reason, now=now),
            f"Rejected {claim.team.slug}'s claim on {claim.path.name}.",
            needs_reason=True,
        ),
    }
    return decide_in_place(
        request,
        QueueRow(claim),
        ways.get(decision),
        kind="claim",
        queue_url=reverse("registry:queue-claims"),
    )


@login_required
@require_POST
def transfer_answer(request: HttpRequest, transfer_id: int, decision: str) -> HttpResponse:
    actor, now = actor_for(request), request_now(request)
    transfer = (
        Transfer.objects.select_related("path", "from_team", "to_team")
        .filter(pk=transfer_id, to_team_id__in=sorted(actor.team_ids))
        .first()
    )
    if transfer is None:  # offered to another team: not this person's to see
        raise Http404("No such transfer.")
    ways = {
        "accept": Decision(
            lambda reason: services.transfer_accept(actor=actor, transfer=transfer, now=now),
            f"Accepted: {transfer.to_team.slug} owns {transfer.path.name} now.",
            needs_reason=False,
        ),
        "decline": Decision(
            lambda reason: services.transfer_decline(
                actor=actor, transfer=transfer, reason=reason, now=now
            ),
            f"Declined: {transfer.path.name} stays with {transfer.from_team.slug}.",
            needs_reason=True,
        ),
    }
    return decide_in_place(
        request,
        QueueRow(transfer),
        ways.get(decision),
        kind="transfer",
        queue_url=reverse("registry:queue-mine"),
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
