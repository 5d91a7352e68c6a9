"""Managing a team's members on its page: add someone (with a role), make a member a lead
or a lead a member, remove someone (with a reason). Each goes through its team service
(registry/services/teams.py), which decides who may and audits the change; the page
offers the forms to whoever `permissions.refuse_team_manage` lets manage the team."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from registry import services
from registry.models import Membership, Team
from registry.rules import permissions
from registry.rules.errors import NotAllowed, ServiceError
from registry.selectors import team_for_reader
from registry.web.forms import apply_service_errors
from registry.web.team_forms import MemberAddForm, MemberRemoveForm, MemberRoleForm
from registry.web.views._common import actor_for, error_status, request_now
from registry.web.views.teams import team_context, team_or_404

TEMPLATE = "registry/team_detail.html"


def _membership_or_404(team: Team, membership_id: int) -> Membership:
    membership = (
        Membership.objects.select_related("team", "user")
        .filter(pk=membership_id, team=team, ended_at__isnull=True)
        .first()
    )
    if membership is None:
        raise Http404("No such member.")
    return membership


def _answer(
    request: HttpRequest,
    team: Team,
    form: forms.BaseForm,
    *,
    membership: Membership | None = None,
    exc: ServiceError | None = None,
) -> HttpResponse:
    """The team page again, with the refused form's errors where it was sent from: the
    add form below the table, a row's form in its row. A refusal of the person (not
    allowed) goes at the top of the page, which offers them no such form."""
    if isinstance(exc, NotAllowed):
        messages.error(request, exc.message)
    elif exc is not None:
        apply_service_errors(form, exc)
    status = error_status(exc) if exc is not None else 400
    if membership is None:
        context = team_context(request, team, member_form=form)
    else:
        context = team_context(request, team, row_error={"id": membership.pk, "form": form})
    return render(request, TEMPLATE, context, status=status)


@login_required
@require_POST
def member_add(request: HttpRequest, slug: str) -> HttpResponse:
    team = team_or_404(request, slug)
    form = MemberAddForm(request.POST)
    # Who may manage is asked before the username is looked up, so a plain member
    # cannot use the form to learn which accounts exist.
    if (refusal := permissions.refuse_team_manage(actor_for(request), team)) is not None:
        return _answer(request, team, MemberAddForm(), exc=NotAllowed(refusal))
    if not form.is_valid():
        return _answer(request, team, form)
    user = form.cleaned_data["username"]
    try:
        services.membership_add(
            actor=actor_for(request),
            team=team,
            user=user,
            role=form.cleaned_data["role"],
            now=request_now(request),
        )
    except ServiceError as exc:
        return _answer(request, team, form, exc=exc)
    role = Membership.Role(form.cleaned_data["role"]).label.lower()
    messages.success(request, f"Added {user.get_username()} to {team.name} as a {role}.")
    return redirect("registry:team-detail", slug=team.slug)


@login_required
@require_POST
def member_role(request: HttpRequest, slug: str, membership_id: int) -> HttpResponse:
    team = team_or_404(request, slug)
    membership = _membership_or_404(team, membership_id)
    form = MemberRoleForm(request.POST)
    if not form.is_valid():
        return _answer(request, team, form, membership=membership)
    try:
        changed = services.membership_set_role(
            actor=actor_for(request),
            membership=membership,
            role=form.cleaned_data["role"],
            now=request_now(request),
        )
    except ServiceError as exc:
        return _answer(request, team, form, membership=membership, exc=exc)
    role = Membership.Role(changed.role).label.lower()
    messages.success(request, f"{membership.user.get_username()} is now a {role}.")
    return redirect("registry:team-detail", slug=team.slug)


@login_required
@require_POST
def member_remove(request: HttpRequest, slug: str, membership_id: int) -> HttpResponse:
    team = team_or_404(request, slug)
    membership = _membership_or_404(team, membership_id)
    form = MemberRemoveForm(request.POST)
    if not form.is_valid():
        return _answer(request, team, form, membership=membership)
    try:
        services.membership_end(
            actor=actor_for(request),
            membership=membership,
            reason=form.cleaned_data["reason"],
            now=request_now(request),
        )
    except ServiceError as exc:
        return _answer(request, team, form, membership=membership, exc=exc)
    messages.success(request, f"Removed {membership.user.get_username()} from {team.name}.")
    if team_for_reader(actor=actor_for(request), slug=team.slug) is None:
        # Someone who removed themselves may no longer see the team's page.
        return redirect("registry:team-list")
    return redirect("registry:team-detail", slug=team.slug)
