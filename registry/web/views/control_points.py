"""The per-system control-point owners page (security only; anyone else: 404). A
path's own owners are edited on the path's edit page."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from registry import services
from registry.rules import permissions
from registry.rules.control_points import policy_queryset
from registry.rules.errors import ServiceError
from registry.web.forms import ControlPolicyForm, apply_service_errors
from registry.web.views._common import actor_for, error_status, request_now


@login_required
def control_policies(request: HttpRequest) -> HttpResponse:
    actor = actor_for(request)
    if permissions.refuse_control_policy(actor) is not None:
        raise Http404("No such page.")
    status = 200
    form: forms.Form = ControlPolicyForm()
    if request.method == "POST":
        form = ControlPolicyForm(request.POST)
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.system_control_policy_set(
                    actor=actor,
                    system=data["system"],
                    iam_team=data["iam_team"],
                    pam_team=data["pam_team"],
                    secops_team=data["secops_team"],
                    offers_workload_identity=data["offers_workload_identity"],
                    expected_version=data["version"],
                    now=request_now(request),
                )
            except ServiceError as exc:
                apply_service_errors(form, exc)
                status = error_status(exc)
            else:
                messages.success(request, f"Saved the control policy of {data['system']}.")
                return redirect("registry:control-policies")
    return render(
        request,
        "registry/control_policies.html",
        {"policies": list(policy_queryset()), "form": form},
        status=status,
    )
