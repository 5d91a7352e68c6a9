"""The path page's "disabled at the source" panel and its action: a person of the
owning, stewarding or revoking teams (or security) confirms that a revoked or expired
credential is disabled where it lives (services/source.py)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from registry import services
from registry.models import AccessPath
from registry.rules import permissions
from registry.rules.actors import Actor
from registry.rules.errors import ServiceError
from registry.rules.status import RETIRED_STATES, effective_state
from registry.web.views._common import actor_for, error_status, request_now, visible_path_or_404
from registry.web.views.paths import path_detail


class SourceDisabledForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput)
    note = forms.CharField(
        label="How it was disabled (optional)", required=False, max_length=2000, strip=True
    )


@dataclass(frozen=True)
class SourcePanel:
    """What the path page says about the credential at its source."""

    retired: bool
    may_confirm: bool
    confirmed_at: dt.datetime | None
    confirmed_by: str
    still_listed_at: dt.datetime | None

    @property
    def shown(self) -> bool:
        return self.retired or self.still_listed_at is not None


def source_panel(actor: Actor, path: AccessPath, now: dt.datetime) -> SourcePanel:
    """The button is offered exactly when the service would accept the POST (apart
    from a stale version); a live path costs no query."""
    retired = effective_state(path, now) in RETIRED_STATES
    may_confirm = False
    if retired and path.source_disabled_at is None:
        revokers = path.revoker_teams.values_list("pk", flat=True)
        may_confirm = permissions.refuse_confirm_source_disabled(actor, path, revokers) is None
    return SourcePanel(
        retired=retired,
        may_confirm=may_confirm,
        confirmed_at=path.source_disabled_at,
        confirmed_by=path.source_disabled_by,
        still_listed_at=path.source_still_listed_at,
    )


@login_required
@require_POST
def path_source_disabled(request: HttpRequest, path_id: str) -> HttpResponse:
    path = visible_path_or_404(request, path_id)
    form = SourceDisabledForm(request.POST)
    if not form.is_valid():
        messages.error(request, "The form was incomplete: reload the page and try again.")
        return _page(request, path_id, 400)
    try:
        services.path_confirm_source_disabled(
            actor=actor_for(request),
            path=path,
            note=form.cleaned_data["note"],
            expected_version=form.cleaned_data["version"],
            now=request_now(request),
        )
    except ServiceError as exc:
        messages.error(request, exc.message)
        return _page(request, path_id, error_status(exc))
    messages.success(request, "Recorded: the credential is disabled at the source.")
    return redirect("registry:path-detail", path_id=path.pk)


def _page(request: HttpRequest, path_id: str, status: int) -> HttpResponse:
    """The path page with the refusal at its top, answered with the API's status."""
    response = path_detail(request, path_id)
    response.status_code = status
    return response
