"""Bulk actions on the inventory's selection: attest, transfer, revoke, request an
exception. Each selected path goes through the same service as the path page's form,
one path at a time (registry/web/bulk.py), so a refused row changes nothing and the
others proceed.

The answer is POST-redirect-GET: the per-row outcome is kept in the session and shown
once by the inventory page it redirects to (the page the person acted from, same
filters, same page), so a reload never acts twice. A request that cannot be acted on
at all (no selection, an unknown action, a field missing) re-renders that page with
the error, the selection still ticked, and status 400: nothing changed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from registry import services
from registry.models import AccessPath
from registry.rules.actors import Actor
from registry.selectors import path_list as select_paths
from registry.web.bulk import BulkOutcome, SelectionError, missing_rows, run_each, selected_ids
from registry.web.bulk_forms import (
    ACTION_FIELD,
    BULK_FORMS,
    UNKNOWN_ACTION,
    Selected,
    bulk_forms,
    keep_outcome,
    parse_row_value,
)
from registry.web.views._common import actor_for, request_now
from registry.web.views.inventory import render_list

Act = Callable[[AccessPath, int], str]


MAX_BACK_QUERY = 2_000


def _back_query(request: HttpRequest) -> QueryDict:
    """The inventory query the bulk form was sent from: a query string only, never a
    URL, so the redirect cannot leave the inventory."""
    # An inventory query is a few hundred characters; anything longer is not one of ours.
    raw = request.POST.get("back", "")
    back = QueryDict(raw if len(raw) <= MAX_BACK_QUERY else "", mutable=True)
    back.pop("select", None)
    return back


def _action(action: str, actor: Actor, data: dict, now: dt.datetime) -> Act:
    """The service call for one path (given the version the page showed) and what a done
    row says: the same calls, with the same arguments, as the path page's forms."""

    def attest(path: AccessPath, version: int) -> str:
        services.path_attest(
            actor=actor,
            path=path,
            decision="keep",
            still_needed=data["still_needed"],
            justification_accurate=data["justification_accurate"],
            least_privilege=data["least_privilege"],
            no_human_use=data["no_human_use"],
            note=data["note"],
            expected_version=version,
            now=now,
        )
        return "attested; the next review date has moved."

    def transfer(path: AccessPath, version: int) -> str:
        to_team = data["to_team"]
        services.path_transfer(
            actor=actor,
            path=path,
            to_team=to_team,
            reason=data["reason"],
            expected_version=version,
            now=now,
        )
        return f"offered to {to_team.slug}; ownership moves when they accept."

    def revoke(path: AccessPath, version: int) -> str:
        services.path_revoke(
            actor=actor, path=path, reason=data["reason"], expected_version=version, now=now
        )
        return "revoked; integrations were told."

    def exception(path: AccessPath, version: int) -> str:
        # A request changes the path only once approved, which reads the path afresh:
        # the service takes no version, as on the path page.
        services.exception_request(
            actor=actor,
            path=path,
            rule=data["rule"],
            reason=data["reason"],
            expires_at=data["expires_at"],
            now=now,
        )
        return "exception requested; a security reviewer will decide."

    acts: dict[str, Act] = {
        "attest": attest,
        "transfer": transfer,
        "revoke": revoke,
        "exception": exception,
    }
    return acts[action]


def _refuse(request: HttpRequest, *, error: str = "", form=None) -> HttpResponse:
    """The page the person acted from, with why nothing was done (400): the bound form
    shows its field errors, the selection stays ticked."""
    forms = [form if form is not None and f.action == form.action else f for f in bulk_forms()]
    request.GET = QueryDict(_back_query(request).urlencode())
    return render_list(
        request,
        status=400,
        bulk={
            "forms": forms,
            "error": error,
            "open": form.action if form is not None else "",
            "checked": frozenset(request.POST.getlist("selected")),
        },
    )


@login_required
@require_POST
def path_bulk(request: HttpRequest) -> HttpResponse:
    action = request.POST.get(ACTION_FIELD, "")
    if action not in BULK_FORMS:
        return _refuse(request, error=UNKNOWN_ACTION)
    try:
        values = selected_ids(request.POST)
    except SelectionError as exc:
        # What was typed stays, so only the ticks need adding.
        return _refuse(request, error=str(exc), form=BULK_FORMS[action](request.POST))
    form = BULK_FORMS[action](request.POST)
    if not form.is_valid():
        return _refuse(request, form=form)
    actor, now = actor_for(request), request_now(request)
    act = _action(action, actor, form.cleaned_data, now)
    chosen = {value: parse_row_value(value) for value in values}
    wanted = [s.path_id for s in chosen.values() if s is not None]
    # Only paths this person may see: any other id is "no such access path", exactly
    # as the path page's 404 (never revealing whether it exists).
    visible = {
        str(path.pk): path
        for path in select_paths(actor=actor, now=now, with_status=False).filter(pk__in=wanted)
    }
    found: list[tuple[str, AccessPath, Selected]] = [
        (value, visible[s.path_id], s)
        for value, s in chosen.items()
        if s is not None and s.path_id in visible
    ]
    done = run_each(
        found,
        lambda item: act(item[1], item[2].version),
        label=lambda item: item[1].name,
        url=lambda item: reverse("registry:path-detail", args=[item[1].pk]),
    )
    by_value = {value: row for (value, _, _), row in zip(found, done.rows, strict=True)}
    # The rest, named by the id ticked: not visible, not a path, or not a row value.
    hidden = [value.partition(":")[0] for value in values if value not in by_value]
    missing = iter(missing_rows(hidden, [], label="access path"))
    rows = [by_value[value] if value in by_value else next(missing) for value in values]
    keep_outcome(request.session, form.title, BulkOutcome(rows))
    back = _back_query(request)
    url = reverse("registry:path-list")
    return redirect(f"{url}?{back.urlencode()}" if back else url)
