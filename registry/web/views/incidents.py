"""Leak incident pages: the list, one incident (contain, close, link), and reporting one
for a path or by an identifier (the triage answer links to it).

Thin, like the path pages: the actions offered come from registry.rules.permissions, changes
go through the services, a refusal re-renders the page with the service's message and
the API's status. An incident of a path the person cannot see is 404.
"""

from __future__ import annotations

from collections.abc import Callable

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from registry import services
from registry.models import Incident
from registry.rules import permissions
from registry.rules.errors import Invalid, ServiceError
from registry.selectors import path_get
from registry.selectors.incidents import (
    incident_get,
    incident_history,
    incident_list,
    incident_page,
)
from registry.web.forms import apply_service_errors, blank_value
from registry.web.views._common import actor_for, error_status, request_now
from registry.web.views.triage import KIND_CHOICES

State = Incident.State


class ReportForm(forms.Form):
    path = forms.UUIDField(required=False, widget=forms.HiddenInput)
    identifier = forms.CharField(
        label="Identifier or fingerprint",
        required=False,
        max_length=600,
        help_text="A key id, principal, client id, external id, or the SHA-256 of the "
        "credential. Never the credential itself.",
    )
    kind = forms.ChoiceField(label="Kind", choices=KIND_CHOICES, required=False)
    detection = forms.ChoiceField(
        label="How was it found",
        choices=[
            (Incident.Detection.MANUAL, "I found it"),
            (Incident.Detection.PARTNER, "A partner reported it"),
        ],
    )
    detected_at = forms.DateTimeField(
        label="Detected at (UTC)", required=False, help_text="Empty: now."
    )
    location = forms.CharField(label="Where it leaked", required=False, max_length=500)
    alert_url = forms.URLField(
        label="Link (report, alert)", required=False, max_length=500, assume_scheme="https"
    )
    summary = forms.CharField(label="What happened", required=False, widget=forms.Textarea)


class VersionForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput)


class ContainForm(VersionForm):
    note = forms.CharField(label="How it was disabled", required=False, max_length=500)


class CloseForm(VersionForm):
    reason = forms.CharField(label="Conclusion", max_length=1000)


class LinkForm(VersionForm):
    path = forms.UUIDField(label="Access path id")


def _offered(request: HttpRequest, incident: Incident) -> dict[str, bool]:
    actor = actor_for(request)
    still_open = incident.state == State.OPEN
    return {
        "contain": still_open and permissions.refuse_incident_contain(actor, incident.path) is None,
        "close": incident.state != State.CLOSED
        and permissions.refuse_incident_close(actor, incident.path, still_open=still_open) is None,
        "link": incident.path_id is None
        and incident.state != State.CLOSED
        and permissions.refuse_incident_link(actor) is None,
    }


def _visible_or_404(request: HttpRequest, incident_id: int) -> Incident:
    incident = incident_get(actor=actor_for(request), incident_id=incident_id)
    if incident is None:
        raise Http404("No such incident.")
    return incident


def _detail(request: HttpRequest, incident: Incident, bound: dict | None = None, status=200):
    version = {"version": incident.version}
    page_forms = {
        "contain": ContainForm(initial=version),
        "close": CloseForm(initial=version),
        "link": LinkForm(initial=version),
    } | (bound or {})
    context = {
        "incident": incident,
        "actions": _offered(request, incident),
        "forms": page_forms,
        "timeline": incident_history(incident=incident),
    }
    return render(request, "registry/incident_detail.html", context, status=status)


@login_required
def incident_list_page(request: HttpRequest) -> HttpResponse:
    state = request.GET.get("state") or None
    if state not in (None, *State.values):
        state = None
    qs = incident_list(actor=actor_for(request), state=state)
    rows, next_cursor = incident_page(qs, request.GET.get("cursor"))
    context = {
        "incidents": rows,
        "next_cursor": next_cursor,
        "state": state or "",
        "states": State.choices,
    }
    return render(request, "registry/incident_list.html", context)


@login_required
def incident_detail(request: HttpRequest, incident_id: int) -> HttpResponse:
    return _detail(request, _visible_or_404(request, incident_id))


@login_required
@require_http_methods(["GET", "POST"])
def incident_new(request: HttpRequest) -> HttpResponse:
    actor = actor_for(request)
    if request.method == "GET":
        form = ReportForm(
            initial={k: request.GET.get(k, "") for k in ("identifier", "kind", "path")}
        )
        path = path_get(actor=actor, path_id=request.GET.get("path", ""))
        return render(request, "registry/incident_new.html", {"form": form, "path": path})
    form = ReportForm(request.POST)
    path, status = None, 400
    if form.is_valid():
        data = form.cleaned_data
        if data["path"] is not None:
            path = path_get(actor=actor, path_id=data["path"])
            if path is None:
                raise Http404("No such access path.")
        try:
            incident = services.incident_open(
                actor=actor,
                path=path,
                identifier=data["identifier"],
                kind=data["kind"] or None,
                detection=data["detection"],
                detected_at=data["detected_at"],
                summary=data["summary"],
                location=data["location"],
                alert_url=data["alert_url"],
                now=request_now(request),
            )
        except ServiceError as exc:
            status = error_status(exc)
            if isinstance(exc, Invalid):
                for name, problems in exc.errors.items():
                    form.add_error(name if name in form.fields else None, problems)
            else:
                form.add_error(None, [exc.message])
            blank_value(form, "identifier")
        else:
            if incident_get(actor=actor, incident_id=incident.pk) is None:
                # Reported by identifier, of a path this person cannot see (or of none:
                # unmatched, security links it): routing only.
                reported = incident.path
                team = (reported.owner_team or reported.steward_team) if reported else None
                routed = {"routed": incident, "route_to": team, "form": ReportForm()}
                return render(request, "registry/incident_new.html", routed, status=201)
            messages.success(request, "Incident opened: its team has been told.")
            return redirect("registry:incident-detail", incident_id=incident.pk)
    context = {"form": form, "path": path}
    return render(request, "registry/incident_new.html", context, status=status)


def _act(
    request: HttpRequest,
    incident_id: int,
    *,
    slot: str,
    form_class: type[VersionForm],
    perform: Callable[[Incident, dict], object],
    done: str,
) -> HttpResponse:
    incident = _visible_or_404(request, incident_id)
    form = form_class(request.POST)
    status = 400
    if form.is_valid():
        try:
            perform(incident, form.cleaned_data)
        except ServiceError as exc:
            status = error_status(exc)
            if isinstance(exc, Invalid):
                apply_service_errors(form, exc)  # the forms' one way of showing them
            else:
                messages.error(request, exc.message)
        else:
            messages.success(request, done)
            return redirect("registry:incident-detail", incident_id=incident.pk)
    fresh = _visible_or_404(request, incident_id)
    return _detail(request, fresh, {slot: form}, status=status)


@login_required
@require_POST
def incident_contain(request: HttpRequest, incident_id: int) -> HttpResponse:
    return _act(
        request,
        incident_id,
        slot="contain",
        form_class=ContainForm,
        perform=lambda incident, data: services.incident_contain(
            actor=actor_for(request),
            incident=incident,
            expected_version=data["version"],
            note=data["note"],
            now=request_now(request),
        ),
        done="Marked contained: the ladder stops here.",
    )


@login_required
@require_POST
def incident_close(request: HttpRequest, incident_id: int) -> HttpResponse:
    return _act(
        request,
        incident_id,
        slot="close",
        form_class=CloseForm,
        perform=lambda incident, data: services.incident_close(
            actor=actor_for(request),
            incident=incident,
            reason=data["reason"],
            expected_version=data["version"],
            now=request_now(request),
        ),
        done="Incident closed.",
    )


@login_required
@require_POST
def incident_link(request: HttpRequest, incident_id: int) -> HttpResponse:
    def link(incident: Incident, data: dict) -> object:
        path = path_get(actor=actor_for(request), path_id=data["path"])
        if path is None:
            raise Invalid.single("path", "No such access path.")
        return services.incident_link_path(
            actor=actor_for(request),
            incident=incident,
            path=path,
            expected_version=data["version"],
            now=request_now(request),
        )

    return _act(
        request,
        incident_id,
        slot="link",
        form_class=LinkForm,
        perform=link,
        done="Linked: the path's team has been told.",
    )
