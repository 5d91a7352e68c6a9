"""Imports in the browser: upload a file (security), follow its progress, read its
report. The import itself runs in a Celery worker (registry.import_paths)."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from registry import services
from registry.models import ImportRun
from registry.rules.errors import ServiceError
from registry.runtime.progress import get_progress
from registry.selectors import import_runs
from registry.selectors.imports import import_run
from registry.web.forms import ImportUploadForm, apply_service_errors
from registry.web.views._common import actor_for, error_status, request_now
from registry.web.views.queues import security_only


@login_required
@require_http_methods(["GET", "POST"])
def import_list(request: HttpRequest) -> HttpResponse:
    security_only(request)
    status = 200
    form: forms.Form = ImportUploadForm()
    if request.method == "POST":
        form = ImportUploadForm(request.POST, request.FILES)
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            try:
                run = services.import_upload(
                    actor=actor_for(request),
                    upload=data["file"],
                    options=services.ImportOptions.from_input(data),
                    now=request_now(request),
                )
            except ServiceError as exc:
                apply_service_errors(form, exc)
                status = error_status(exc)
            else:
                return redirect("registry:import-detail", run_id=run.pk)
    context = {"form": form, "runs": import_runs()}
    return render(request, "registry/import_list.html", context, status=status)


@login_required
def import_detail(request: HttpRequest, run_id: str) -> HttpResponse:
    security_only(request)
    run = import_run(run_id=run_id)
    if run is None:
        raise Http404("No such import.")
    done, total = get_progress(run.pk) or (run.processed, run.total)
    context = {
        "run": run,
        "done": done,
        "total": total,
        "waiting": run.status in (ImportRun.Status.QUEUED, ImportRun.Status.RUNNING),
        "retention": _duration(settings.NHI_IMPORT_UPLOAD_RETENTION_HOURS),
    }
    template = "registry/import_detail.html"
    if request.headers.get("HX-Request"):
        template = "registry/_import_status.html"
    return render(request, template, context)


def _duration(hours: int) -> str:
    """The upload retention as people say it ("7 days", "36 hours")."""
    if hours % 24 == 0:
        days = hours // 24
        return f"{days} day{'s' if days != 1 else ''}"
    return f"{hours} hour{'s' if hours != 1 else ''}"
