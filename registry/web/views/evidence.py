"""The auditor evidence pack page: choose a period, download the ZIP (security only)."""

from __future__ import annotations

import datetime as dt
from tempfile import SpooledTemporaryFile
from typing import Any, BinaryIO, cast

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponseBase
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from registry.rules.errors import ServiceError
from registry.rules.policies import current_policy
from registry.selectors.evidence import build_evidence_pack, pack_filename, period_from_dates
from registry.selectors.frameworks import framework_summary
from registry.web.views._common import actor_for, error_status, request_now
from registry.web.views.queues import security_only

TEMPLATE = "registry/evidence.html"
DEFAULT_DAYS = 90
# Packs up to this size stay in memory; larger ones spill to a temporary file.
SPOOL_MEMORY = 8 * 1024 * 1024


class EvidencePeriodForm(forms.Form):
    """The period as days: from `from` 00:00 UTC up to, not including, `to` 00:00 UTC.
    The fields are named like the query (?from=&to=), which Python cannot declare."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["from"] = forms.DateField(
            label="From", help_text="First day included (00:00 UTC).", widget=_date_input()
        )
        self.fields["to"] = forms.DateField(
            label="To", help_text="First day not included (00:00 UTC).", widget=_date_input()
        )

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        first, until = cleaned.get("from"), cleaned.get("to")
        if first and until and until <= first:
            self.add_error("to", "The period must end after it starts: choose a later day.")
        return cleaned


def _date_input() -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def _period_given(request: HttpRequest):
    if request.method == "POST":
        return request.POST
    if "from" in request.GET or "to" in request.GET:
        return request.GET
    return None


@login_required
@require_http_methods(["GET", "POST"])
def evidence_pack(request: HttpRequest) -> HttpResponseBase:
    """GET: the form (the last 90 full days by default). POST, or GET with ?from=&to=:
    the pack as a download. Anyone but a security reviewer gets 404, as for the
    security queues."""
    security_only(request)
    now = request_now(request)
    today = now.astimezone(dt.UTC).date()
    data = _period_given(request)
    form = EvidencePeriodForm(
        data, initial={"from": today - dt.timedelta(days=DEFAULT_DAYS), "to": today}
    )
    if data is None:
        # The controls as the pack would state them now (one grouped read of the facts).
        summary = framework_summary(now=now, policy=current_policy())
        return render(request, TEMPLATE, {"form": form, "summary": summary})
    if not form.is_valid():
        return render(request, TEMPLATE, {"form": form}, status=400)
    first, until = form.cleaned_data["from"], form.cleaned_data["to"]
    start, end = period_from_dates(first, until)
    spool = SpooledTemporaryFile(max_size=SPOOL_MEMORY)  # noqa: SIM115 - FileResponse closes it
    try:
        # A spooled file is an IO[bytes], not a BinaryIO: drop the cast once
        # build_evidence_pack takes IO[bytes].
        out = cast(BinaryIO, spool)
        build_evidence_pack(actor=actor_for(request), start=start, end=end, now=now, out=out)
    except ServiceError as exc:
        spool.close()
        form.add_error(None, exc.message)
        return render(request, TEMPLATE, {"form": form}, status=error_status(exc))
    except BaseException:
        spool.close()
        raise
    size = spool.tell()
    spool.seek(0)
    response = FileResponse(
        spool,
        as_attachment=True,
        filename=pack_filename(first, until),
        content_type="application/zip",
    )
    response["Content-Length"] = str(size)
    response["Cache-Control"] = "no-store"
    return response
