"""Team pages: members and leads (managed in views/team_members.py), notification
channels with a test-send, API tokens (created tokens are shown once: see
docs/tokens-in-the-browser.md), and the reminders coming in the next 30 days."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from registry import selectors, services
from registry.models import ApiToken, Notification, Team
from registry.rules import permissions
from registry.rules.errors import ServiceError
from registry.selectors import (
    reminder_preview,
    team_directory,
    team_for_reader,
    team_members,
    team_tokens,
)
from registry.selectors.scim import team_provider_changes
from registry.services.channels import channel_configured
from registry.services.tokens import TokenAlreadyCreated
from registry.web.forms import (
    ChannelTestForm,
    ReasonRequiredForm,
    TeamChannelsForm,
    TokenCreateForm,
    apply_service_errors,
)
from registry.web.team_forms import MemberAddForm
from registry.web.views._common import actor_for, error_status, request_now


def team_or_404(request: HttpRequest, slug: str) -> Team:
    team = team_for_reader(actor=actor_for(request), slug=slug)
    if team is None:
        raise Http404("No such team.")
    return team


@login_required
def team_list(request: HttpRequest) -> HttpResponse:
    teams = team_directory(actor=actor_for(request))
    return render(request, "registry/team_list.html", {"teams": teams})


def team_context(request: HttpRequest, team: Team, **bound) -> dict:
    actor = actor_for(request)
    may_manage = permissions.refuse_team_manage(actor, team) is None
    channels = [
        (value, label, channel_configured(team, value))
        for value, label in Notification.Channel.choices
    ]
    return {
        "team": team,
        "members": list(team_members(actor=actor, team=team) or []),
        # Memberships and the team's state changed by SCIM or by sign-in's group sync.
        "provider_changes": list(team_provider_changes(team)),
        "may_manage": may_manage,
        "channels": channels,
        "channels_form": bound.get("channels_form") or TeamChannelsForm(instance=team),
        "test_form": bound.get("test_form") or ChannelTestForm(),
        "tokens": list(team_tokens(team=team)) if may_manage else [],
        "token_form": bound.get("token_form") or TokenCreateForm(team=team, user=request.user),
        "member_form": bound.get("member_form") or MemberAddForm(),
        # A refused change to one member's row: {"id": membership id, "form": the form}.
        "row_error": bound.get("row_error"),
        "revoke_form": ReasonRequiredForm(),
        "new_token": bound.get("new_token"),
        "now": request_now(request),
    }


@login_required
def team_detail(request: HttpRequest, slug: str) -> HttpResponse:
    team = team_or_404(request, slug)
    context = team_context(request, team)
    if test_id := request.GET.get("channel_test", ""):
        context |= _channel_test_context(team, test_id[:64])
    return render(request, "registry/team_detail.html", context)


def _refused(request: HttpRequest, team: Team, form: forms.BaseForm, exc: ServiceError, name: str):
    apply_service_errors(form, exc)
    context = team_context(request, team, **{name: form})
    return render(request, "registry/team_detail.html", context, status=error_status(exc))


@login_required
@require_POST
def team_channels(request: HttpRequest, slug: str) -> HttpResponse:
    team = team_or_404(request, slug)
    form = TeamChannelsForm(request.POST, instance=team)
    if not form.is_valid():
        context = team_context(request, team, channels_form=form)
        return render(request, "registry/team_detail.html", context, status=400)
    try:
        services.team_update(
            actor=actor_for(request), team=team, changes=form.changes(), now=request_now(request)
        )
    except ServiceError as exc:
        return _refused(request, team, form, exc, "channels_form")
    messages.success(request, "Channels saved.")
    return redirect("registry:team-detail", slug=team.slug)


@login_required
@require_POST
def team_channel_test(request: HttpRequest, slug: str) -> HttpResponse:
    team = team_or_404(request, slug)
    form = ChannelTestForm(request.POST)
    if not form.is_valid():
        context = team_context(request, team, test_form=form)
        return render(request, "registry/team_detail.html", context, status=400)
    channel = form.cleaned_data["channel"]
    try:
        test_id = services.team_channel_test_queue(
            actor=actor_for(request), team=team, channel=channel, now=request_now(request)
        )
    except ServiceError as exc:
        return _refused(request, team, form, exc, "test_form")
    # The worker sends it; the team page polls for the outcome (_channel_test.html).
    return redirect(f"{reverse('registry:team-detail', args=[team.slug])}?channel_test={test_id}")


@login_required
def team_channel_test_status(request: HttpRequest, slug: str, test_id: str) -> HttpResponse:
    """The polled outcome of a queued test-send (HTMX swaps it in until it is done)."""
    team = team_or_404(request, slug)
    return render(request, "registry/_channel_test.html", _channel_test_context(team, test_id))


def _channel_test_context(team: Team, test_id: str) -> dict:
    state = selectors.channel_test_of(team=team, test_id=test_id)
    label = Notification.Channel(state["channel"]).label if state else ""
    return {"team": team, "test_id": test_id, "test": state, "channel_label": label}


@login_required
@require_POST
def token_create(request: HttpRequest, slug: str) -> HttpResponse:
    team = team_or_404(request, slug)
    form = TokenCreateForm(request.POST, team=team, user=request.user)
    if not form.is_valid():
        context = team_context(request, team, token_form=form)
        return render(request, "registry/team_detail.html", context, status=400)
    try:
        token, secret = services.token_create(
            actor=actor_for(request),
            team=team,
            name=form.cleaned_data["name"],
            scopes=form.cleaned_data["scopes"],
            expires_in_days=form.cleaned_data["expires_in_days"],
            once=form.cleaned_data["once"],
            now=request_now(request),
        )
    except TokenAlreadyCreated as exc:
        # The same form sent again (a reload of the page that showed the token): nothing
        # was created; see the team page, where the first token is listed.
        messages.warning(request, exc.message)
        seen = redirect("registry:team-detail", slug=team.slug)
        seen.status_code = 303
        return seen
    except ServiceError as exc:
        return _refused(request, team, form, exc, "token_form")
    # Shown on this response only: the registry keeps just its hash. Not a redirect,
    # which would need the token kept somewhere until the next request (a URL, a
    # session): docs/tokens-in-the-browser.md. token_reveal.js turns this history entry
    # into the team page, so a reload is a GET of it.
    context = team_context(request, team, new_token={"token": token, "secret": secret})
    response = render(request, "registry/team_detail.html", context, status=201)
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def token_revoke(request: HttpRequest, slug: str, token_id: int) -> HttpResponse:
    team = team_or_404(request, slug)
    token = ApiToken.objects.filter(pk=token_id, team=team).first()
    if token is None:
        raise Http404("No such token.")
    form = ReasonRequiredForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Say why the token is revoked.")
        return redirect("registry:team-detail", slug=team.slug)
    try:
        services.token_revoke(
            actor=actor_for(request),
            token=token,
            reason=form.cleaned_data["reason"],
            now=request_now(request),
        )
    except ServiceError as exc:
        context = {"message": exc.message}
        return render(request, "registry/refused.html", context, status=error_status(exc))
    messages.success(request, f"Revoked {token.name} ({token.prefix}…).")
    return redirect("registry:team-detail", slug=team.slug)


@login_required
def team_reminders(request: HttpRequest, slug: str) -> HttpResponse:
    """What this team will be reminded of in the next 30 days (members and security)."""
    team = team_or_404(request, slug)
    upcoming = reminder_preview(team=team, now=request_now(request))
    return render(
        request,
        "registry/team_reminders.html",
        {"team": team, "upcoming": upcoming, "days": 30},
    )
