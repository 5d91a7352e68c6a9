"""Registering a path in the browser: the guided form, its live check, and the save.

The live check (HTMX, as the person types) asks the register service's own rules
(`services.path_preview`, built on the one home of registration rules that the bulk
import shares) whether the path as written would be accepted, and, when it would, asks the
posture rules which of them it would break once saved. Saving calls `path_register`,
as the API does. Without JavaScript the page is a plain form: the answer comes on submit.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from registry import services
from registry.models import Team
from registry.rules import permissions
from registry.rules.actors import Actor
from registry.rules.enforcement import Finding, verdict_for
from registry.rules.errors import Invalid, ServiceError
from registry.rules.policies import current_policy
from registry.selectors import actor_teams
from registry.services.path_preview import register_check, register_verdict
from registry.web.forms import apply_service_errors
from registry.web.path_forms import PathRegisterForm, grouped, hide_secrets, show_refusal
from registry.web.views._common import actor_for, error_status, request_now

REGISTERED_MESSAGE = "Registered. The path's page shows its status and posture."


@dataclass
class Verdict:
    """What the page says before saving: whether the service would accept the path as
    written and, if so, the posture rules it would break once saved and the policy's
    verdict on them (rules/enforcement.py, as the API's evaluate endpoint answers)."""

    accepted: bool = False
    outcome: str = ""
    findings: list[Finding] = field(default_factory=list)
    still_blank: list[forms.BoundField] = field(default_factory=list)
    to_fix: list[forms.BoundField] = field(default_factory=list)
    refusal: str = ""


def _not_yet_shown(form: PathRegisterForm, exc: ServiceError) -> ServiceError | None:
    """The refusal without what the form has already said about a field: a kind that
    did not parse was left out of the data, and the service would call it missing too."""
    if not isinstance(exc, Invalid):
        return exc
    news = {name: found for name, found in exc.errors.items() if name not in form.errors}
    return Invalid(news) if news else None


def _owners(actor: Actor) -> list[Team]:
    if actor.is_security_reviewer:
        return list(Team.objects.filter(is_active=True).order_by("name"))
    return [team for team in actor_teams(actor=actor) if team.is_active]


def _form(request: HttpRequest, actor: Actor) -> PathRegisterForm:
    data = request.POST if request.method == "POST" else None
    return PathRegisterForm(data, owners=_owners(actor))


def _verdict(form: PathRegisterForm, actor: Actor, *, now: dt.datetime) -> Verdict:
    """The live check. Errors on fields left blank are not shown next to them while the
    person is still filling the form in; the verdict lists those fields instead."""
    verdict = Verdict()
    valid = form.is_valid()
    # An invalid form's cleaned data holds the fields that did parse: the service judges
    # those while a date is still being typed.
    data = form.register_data()
    try:
        path = register_check(actor=actor, data=data, now=now)
        if valid:
            policy = verdict_for(register_verdict(path, now=now), policy=current_policy())
            verdict.outcome, verdict.findings = policy.outcome, list(policy.findings)
            verdict.accepted = True
    except ServiceError as exc:
        if (untold := _not_yet_shown(form, exc)) is not None:
            apply_service_errors(form, untold)
    hide_secrets(form)
    blank = set(form.blank_fields())
    for name in list(form.errors):
        if name in blank:
            verdict.still_blank.append(form[name])
            del form.errors[name]
        elif name in form.fields:
            verdict.to_fix.append(form[name])
    verdict.refusal = " ".join(str(error) for error in form.non_field_errors())
    return verdict


@login_required
@require_http_methods(["GET", "POST"])
def path_new(request: HttpRequest) -> HttpResponse:
    actor = actor_for(request)
    if refusal := permissions.refuse_register(actor, None):
        return render(request, "registry/refused.html", {"message": refusal}, status=403)
    form = _form(request, actor)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                path = services.path_register(
                    actor=actor, data=form.register_data(), now=request_now(request)
                )
            except ServiceError as exc:
                show_refusal(form, exc)
                status = error_status(exc)
            else:
                messages.success(request, REGISTERED_MESSAGE)
                return redirect("registry:path-detail", path_id=path.pk)
        else:
            hide_secrets(form)
            status = 400
    return render(
        request,
        "registry/path_new.html",
        {"form": form, "fieldsets": grouped(form), "verdict": None},
        status=status,
    )


@login_required
@require_POST
def path_new_check(request: HttpRequest) -> HttpResponse:
    """The live check's answer: the verdict panel, and every field's error slot (HTMX
    swaps those out of band). Nothing is saved and nothing is recorded: a half-typed
    form is not a refused action."""
    actor = actor_for(request)
    if refusal := permissions.refuse_register(actor, None):
        return render(request, "registry/refused.html", {"message": refusal}, status=403)
    form = _form(request, actor)
    verdict = _verdict(form, actor, now=request_now(request))
    return render(
        request,
        "registry/_path_verdict.html",
        {"form": form, "fieldsets": grouped(form), "verdict": verdict, "live": True},
    )
