"""Bulk decisions on the queues: several claims approved or rejected, several dead
notifications retried, in one request (registry/web/bulk.py: each row through the
same service as the single action, in its own transaction, with a per-row result)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST

from registry import services
from registry.models import Claim, Notification
from registry.web.bulk import BulkOutcome, SelectionError, missing_rows, run_each, selected_ids
from registry.web.forms import DecisionForm, ReasonRequiredForm
from registry.web.views._common import actor_for, request_now
from registry.web.views.queues import (
    claims_context,
    form_errors,
    security_context,
    security_only,
)

ACTIONS = {"approve": DecisionForm, "reject": ReasonRequiredForm}
NO_SUCH_ACTION = "Choose Approve selected or Reject selected."


def _int_ids(ids: list[str]) -> list[int]:
    return [int(value) for value in ids if value.isdigit()]


def _refused(request: HttpRequest, template: str, context: dict, message: str) -> HttpResponse:
    """The selection or the form was unusable: nothing was done; the page says why."""
    context = {**context, "bulk_error": message}
    return render(request, template, context, status=400)


@login_required
@require_POST
def claims_decide(request: HttpRequest) -> HttpResponse:
    security_only(request)
    template = "registry/queue_claims.html"
    action = request.POST.get("action", "")
    form_class = ACTIONS.get(action)
    if form_class is None:
        return _refused(request, template, claims_context(request), NO_SUCH_ACTION)
    form = form_class(request.POST)
    try:
        ids = selected_ids(request.POST)
    except SelectionError as exc:
        return _refused(request, template, claims_context(request), str(exc))
    if not form.is_valid():
        message = f"To reject, give a reason. {form_errors(form)}"
        return _refused(request, template, claims_context(request), message)
    reason = form.cleaned_data["reason"]
    actor, now = actor_for(request), request_now(request)
    found = {
        str(c.pk): c
        for c in Claim.objects.select_related("team", "path").filter(pk__in=_int_ids(ids))
    }
    claims = [found[value] for value in ids if value in found]

    def act(claim: Claim) -> str:
        if action == "approve":
            services.claim_approve(actor=actor, claim=claim, reason=reason, now=now)
            return f"approved: {claim.team.slug} owns it now."
        services.claim_reject(actor=actor, claim=claim, reason=reason, now=now)
        return f"{claim.team.slug}'s claim rejected."

    outcome = run_each(
        claims,
        act,
        label=lambda c: f"{c.path.name} ({c.team.slug})",
        url=lambda c: reverse("registry:path-detail", args=[c.path_id]),
    )
    outcome = BulkOutcome(outcome.rows + missing_rows(ids, found, label="claim"))
    title = "Approve claims" if action == "approve" else "Reject claims"
    context = {**claims_context(request), "outcome": outcome, "bulk_title": title}
    return render(request, template, context)


@login_required
@require_POST
def notifications_retry(request: HttpRequest) -> HttpResponse:
    security_only(request)
    template = "registry/queue_security.html"
    try:
        ids = selected_ids(request.POST)
    except SelectionError as exc:
        return _refused(request, template, security_context(request), str(exc))
    actor, now = actor_for(request), request_now(request)
    found = {
        str(n.pk): n
        for n in Notification.objects.select_related("team", "path").filter(pk__in=_int_ids(ids))
    }
    chosen = [found[value] for value in ids if value in found]

    def act(notification: Notification) -> str:
        services.notification_retry(actor=actor, notification=notification, now=now)
        return "queued again: it will be delivered on the next run."

    outcome = run_each(
        chosen,
        act,
        label=lambda n: f"{n.path.name} to {n.team.slug} ({n.get_channel_display()})",
        url=lambda n: reverse("registry:path-detail", args=[n.path_id]),
    )
    outcome = BulkOutcome(outcome.rows + missing_rows(ids, found, label="notification"))
    context = {**security_context(request), "outcome": outcome, "bulk_title": "Retry"}
    return render(request, template, context)
