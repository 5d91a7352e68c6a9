"""The triage page: look a credential up by a name or a fingerprint; a pasted secret is
hashed in the browser (static/js/triage.js) and never sent."""

from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from registry.rules.errors import Invalid, ServiceError
from registry.services.triage import triage_lookup
from registry.web.forms import blank_value
from registry.web.views._common import actor_for, error_status, request_now

KIND_CHOICES = [
    ("", "Any identifier"),
    ("key_id", "Key id"),
    ("fingerprint", "Fingerprint (SHA-256)"),
    ("principal", "Principal"),
    ("client_id", "Client id"),
    ("external_id", "External id"),
]


class TriageForm(forms.Form):
    value = forms.CharField(
        label="Identifier or fingerprint",
        max_length=600,
        help_text="A key id (AKIA…), principal, client id, external id, or the SHA-256 "
        "of the credential.",
    )
    kind = forms.ChoiceField(label="Kind", choices=KIND_CHOICES, required=False)


@login_required
@require_http_methods(["GET", "POST"])
def triage(request: HttpRequest) -> HttpResponse:
    answer = None
    status = 200
    if request.method == "POST":
        form = TriageForm(request.POST)
        if form.is_valid():
            try:
                answer = triage_lookup(
                    actor=actor_for(request),
                    value=form.cleaned_data["value"],
                    kind=form.cleaned_data["kind"] or None,
                    now=request_now(request),
                ).data
            except ServiceError as exc:
                status = error_status(exc)
                message = [exc.message]
                if isinstance(exc, Invalid):
                    message = [m for ms in exc.errors.values() for m in ms]
                blank_value(form, "value")
                form.add_error(None, message)
        else:
            status = 400
    else:
        form = TriageForm()
    return render(request, "registry/triage.html", {"form": form, "answer": answer}, status=status)
