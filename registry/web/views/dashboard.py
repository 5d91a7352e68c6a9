"""The dashboard: the estate at a glance; every number links to its paths."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from registry.rules.policies import current_policy
from registry.selectors.dashboard import dashboard_stats
from registry.web.views._common import actor_for, request_now


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    actor = actor_for(request)
    stats = dashboard_stats(actor=actor, now=request_now(request), policy=current_policy())
    return render(
        request,
        "registry/dashboard.html",
        {"stats": stats, "scope_is_everything": actor.sees_everything},
    )
