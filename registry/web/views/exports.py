"""A background export's page (it polls until the worker is done) and its download.
Only the person who asked, or security, sees either; anyone else gets 404."""

from __future__ import annotations

import itertools

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render

from registry.models import ExportRun
from registry.rules.exports import EXPORT_NOT_READY, EXPORT_PURGED
from registry.runtime.stored_files import FileGone, file_chunks
from registry.selectors.exports import export_run_for
from registry.web.views._common import actor_for


def _run_or_404(request: HttpRequest, run_id: str) -> ExportRun:
    run = export_run_for(actor=actor_for(request), run_id=run_id)
    if run is None:
        raise Http404("No such export.")
    return run


@login_required
def export_detail(request: HttpRequest, run_id: str) -> HttpResponse:
    run = _run_or_404(request, run_id)
    context = {
        "run": run,
        "waiting": run.status in (ExportRun.Status.QUEUED, ExportRun.Status.RUNNING),
        "purged": run.file is not None and run.file.purged_at is not None,
    }
    template = "registry/export_detail.html"
    if request.headers.get("HX-Request"):
        template = "registry/export_status.html"
    return render(request, template, context)


@login_required
def export_download(request: HttpRequest, run_id: str) -> HttpResponse | StreamingHttpResponse:
    run = _run_or_404(request, run_id)
    stored = run.file
    if run.status != ExportRun.Status.DONE or stored is None:
        return HttpResponse(EXPORT_NOT_READY, status=409, content_type="text/plain")
    chunks = file_chunks(stored)
    try:
        # The first chunk is read here so that a purged file is a clear 410 rather than
        # a download that breaks after its headers.
        first = next(chunks, b"")
    except FileGone:
        return HttpResponse(EXPORT_PURGED, status=410, content_type="text/plain")
    response = StreamingHttpResponse(
        itertools.chain([first], chunks), content_type=stored.content_type
    )
    response["Content-Length"] = str(stored.size)
    response["Content-Disposition"] = f'attachment; filename="{stored.name}"'
    return response
