"""Deciding a change that waits for a second person, on the path's page (the panel is
templates/registry/_path_change.html)."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_POST

from registry import services
from registry.models import AccessPath, ChangeRequest
from registry.rules import permissions
from registry.rules.actors import Actor
from registry.selectors import pending_change_request
from registry.web.views._common import actor_for, request_now, visible_path_or_404
from registry.web.views.paths import decide_request


@dataclass(frozen=True)
class ChangePanel:
    request: ChangeRequest | None
    may_decide: bool


def change_panel(actor: Actor, path: AccessPath) -> ChangePanel:
    request = pending_change_request(path=path)
    may = request is not None and permissions.refuse_change_decision(actor, request) is None
    return ChangePanel(request, may)


@login_required
@require_POST
def change_decide(
    request: HttpRequest, path_id: str, change_id: int, decision: str
) -> HttpResponse:
    path = visible_path_or_404(request, path_id)
    change = path.change_requests.filter(pk=change_id).first()
    if change is None:
        raise Http404("No such change request.")
    actor, now = actor_for(request), request_now(request)

    def decide(approve: bool):
        return lambda reason: services.change_request_decide(
            actor=actor, request=change, approve=approve, reason=reason, now=now
        )

    return decide_request(
        request,
        path,
        decision,
        yes=("approve", decide(True), "Approved: the change is applied."),
        no=("reject", decide(False), "Rejected: the path keeps its values."),
    )
