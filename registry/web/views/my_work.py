"""The landing page after sign-in: what needs me now, each count linking to its list."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from registry.rules.policies import current_policy
from registry.selectors.my_work import EXCEPTION_HORIZON, my_work
from registry.web.views._common import actor_for, request_now


@login_required
def my_work_page(request: HttpRequest) -> HttpResponse:
    actor = actor_for(request)
    work = my_work(actor=actor, now=request_now(request), policy=current_policy())
    context = {
        "work": work,
        "in_a_team": bool(actor.team_ids),
        "horizon_days": EXCEPTION_HORIZON.days,
        "exceptions_label": f"Exceptions ending within {EXCEPTION_HORIZON.days} days",
    }
    return render(request, "registry/my_work.html", context)
