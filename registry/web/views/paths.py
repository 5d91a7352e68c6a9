"""The path page and the actions on it: claim, decide claims, attest, transfer, answer a
transfer, revoke, request and decide exceptions, edit.

Each action is a plain form POST (HTMX swaps the page's main section when it is
loaded, nothing depends on it). Success redirects back to the path with a message; a
refusal re-renders the page with the form's errors next to their fields and the status
the API would give (400, 403, 409). Nothing changes on error: the services are atomic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from registry import services
from registry.models import AccessPath, Claim, PolicyException, Team, Transfer
from registry.notifications.wording import status_reason
from registry.rules import permissions, preconditions
from registry.rules.actors import Actor
from registry.rules.errors import Invalid, ServiceError
from registry.rules.policies import current_policy
from registry.rules.posture import record_quality
from registry.selectors import (
    PathRequests,
    actor_teams,
    path_get,
    path_history,
    path_identifiers,
    path_open_requests,
)
from registry.selectors.violations import path_verdict
from registry.web.forms import (
    AttestForm,
    ClaimForm,
    DecisionForm,
    ExceptionRequestForm,
    PathEditForm,
    ReasonRequiredForm,
    RevokeForm,
    TransferForm,
    apply_service_errors,
    transfer_targets,
)
from registry.web.path_forms import describe_errors, grouped, hide_secrets, show_refusal
from registry.web.views._common import actor_for, error_status, request_now, visible_path_or_404
from registry.web.views.inventory import suggestions_wanted, team_suggestions

State = AccessPath.State


@dataclass
class Actions:
    """What this person may do on this path now; the page offers only these."""

    claim_teams: list[Team] = field(default_factory=list)
    decide_claims: list[Claim] = field(default_factory=list)
    attest: bool = False
    transfer: bool = False
    answer_transfer: Transfer | None = None
    revoke: bool = False
    request_exception: bool = False
    decide_exceptions: list[PolicyException] = field(default_factory=list)
    edit: bool = False

    @property
    def any(self) -> bool:
        return bool(
            self.claim_teams
            or self.decide_claims
            or self.attest
            or self.transfer
            or self.answer_transfer
            or self.revoke
            or self.request_exception
            or self.decide_exceptions
            or self.edit
        )


def offered_actions(actor: Actor, path: AccessPath, requests: PathRequests, now) -> Actions:
    """An action is offered when the same permission rules (rules/permissions.py) and
    state preconditions (rules/preconditions.py) as the service's allow it. A pending
    request is offered for decision; approving one that has gone stale meanwhile (the
    waiver's end passed, the path changed owner) is refused by the service, with why."""
    actions = Actions()
    if preconditions.refuse_not_live(path, now):
        return actions
    if preconditions.refuse_claim_now(path, now, already_claimed=False) is None:
        # Only a claimable path costs the query for the person's teams.
        claimed_by = {c.team_id for c in requests.claims}
        actions.claim_teams = [
            team
            for team in actor_teams(actor=actor)
            if team.is_active
            and preconditions.refuse_claim_now(path, now, already_claimed=team.pk in claimed_by)
            is None
            and permissions.refuse_claim(actor, team) is None
        ]
    actions.decide_claims = [
        c
        for c in requests.claims
        if preconditions.refuse_claim_decision_now(c, path, now) is None
        and permissions.refuse_claim_decision(actor, c) is None
    ]
    actions.attest = (
        preconditions.refuse_attest_now(path, now) is None
        and permissions.refuse_attest(actor, path) is None
    )
    pending = requests.transfer is not None
    actions.transfer = (
        preconditions.refuse_transfer_now(path, now, transfer_pending=pending) is None
        and permissions.refuse_transfer(actor, path) is None
    )
    transfer = requests.transfer
    if (
        transfer is not None
        and preconditions.refuse_transfer_answer_now(transfer, path, now, accepting=False) is None
        and permissions.refuse_transfer_answer(actor, transfer) is None
    ):
        actions.answer_transfer = transfer
    actions.revoke = actor.is_person and permissions.refuse_revoke(actor, path) is None
    actions.request_exception = permissions.refuse_exception_request(actor, path) is None
    actions.decide_exceptions = [
        e
        for e in requests.exceptions
        if preconditions.refuse_exception_decision_now(e, path, now, approving=False) is None
        and permissions.refuse_exception_decision(actor, e) is None
    ]
    actions.edit = actor.is_person and permissions.refuse_update(actor, path) is None
    return actions


def _suggested(path: AccessPath, actions: Actions) -> dict:
    """The owner rules' suggestion, preselected when this person may claim for it."""
    slugs = [t.slug for t in actions.claim_teams if t.pk == path.suggested_owner_id]
    return {"team": slugs[0]} if slugs else {}


def _detail_context(request: HttpRequest, path: AccessPath, bound: dict | None = None) -> dict:
    actor = actor_for(request)
    now = request_now(request)
    policy = current_policy()
    requests = path_open_requests(path=path, now=now)
    actions = offered_actions(actor, path, requests, now)
    version = {"version": path.version}
    # Every rule it breaks, waived ones marked, and what the policy would make of a
    # request for the path as it stands (its edits are judged on what they add).
    verdict = path_verdict(path, now=now, policy=policy, before=())
    violations = [finding.rule for finding in verdict.findings if not finding.waived]
    forms_by_name: dict[str, forms.Form] = {
        "claim": ClaimForm(teams=actions.claim_teams, path=path, initial=_suggested(path, actions)),
        "attest": AttestForm(initial=version),
        "transfer": TransferForm(initial=version, path=path),
        "revoke": RevokeForm(initial=version),
        "exception": ExceptionRequestForm(broken=[rule.code for rule in violations]),
        "decision": DecisionForm(),
        "reason_required": ReasonRequiredForm(),
    }
    forms_by_name.update(bound or {})
    return {
        "path": path,
        "status_reason": status_reason(path, now=now, policy=policy),
        "violations": violations,
        "verdict": verdict,
        "waived_count": len(verdict.findings) - len(violations),
        "quality": record_quality(path),
        "requests": requests,
        "actions": actions,
        "forms": forms_by_name,
        "bound_action": next(iter(bound), "") if bound else "",
        "timeline": path_history(path=path),
        "tags": list(path.tags.values_list("slug", flat=True)),
        "identifiers": path_identifiers(path=path),
    }


@login_required
def path_detail(request: HttpRequest, path_id: str) -> HttpResponse:
    path = visible_path_or_404(request, path_id)
    if suggestions_wanted(request, ("to_team",)):
        # The transfer form's team input (forms.TransferForm), as one types.
        return team_suggestions(request, "to_team", transfer_targets(path))
    return render(request, "registry/path_detail.html", _detail_context(request, path))


HELD_MESSAGE = (
    "Saved, except what relaxes its guard rails (risk tier, expiry past the policy "
    "window, lead sign-off): that waits for approval, shown on this page."
)


def _run(
    request: HttpRequest,
    path: AccessPath,
    *,
    slot: str,
    form: forms.Form,
    perform: Callable[[dict], object],
    done: str,
) -> HttpResponse:
    """Validate `form`, call the service, and answer: redirect on success, the page
    with the errors in the form at `slot` otherwise."""
    status = 400
    if form.is_valid():
        try:
            perform(form.cleaned_data)
        except ServiceError as exc:
            if isinstance(exc, Invalid):
                apply_service_errors(form, exc)
            else:
                # A refusal or a state that moved on: say why at the top of the page,
                # which may no longer offer the form that was sent.
                messages.error(request, exc.message)
            status = error_status(exc)
        else:
            messages.success(request, done)
            if path_get(actor=actor_for(request), path_id=path.pk) is None:
                # Declining a transfer, say, can leave the path out of sight.
                return redirect("registry:queue-mine")
            return redirect("registry:path-detail", path_id=path.pk)
    fresh = visible_path_or_404(request, str(path.pk))
    context = _detail_context(request, fresh, {slot: form})
    return render(request, "registry/path_detail.html", context, status=status)


@login_required
@require_POST
def path_claim(request: HttpRequest, path_id: str) -> HttpResponse:
    path = visible_path_or_404(request, path_id)
    actor = actor_for(request)
    form = ClaimForm(request.POST, teams=list(actor_teams(actor=actor)), path=path)
    return _run(
        request,
        path,
        slot="claim",
        form=form,
        perform=lambda data: services.path_claim(
            actor=actor,
            path=path,
            team=data["team"],
            reason=data["reason"],
            ticket_url=data["ticket_url"],
            justification=data["justification"],
            proposed_expires_at=data["proposed_expires_at"],
            now=request_now(request),
        ),
        done="Claim sent: a security reviewer will approve or reject it.",
    )


def _claim_of(path: AccessPath, claim_id: int) -> Claim:
    claim = Claim.objects.select_related("team").filter(pk=claim_id, path=path).first()
    if claim is None:
        raise Http404("No such claim.")
    return claim


def decide_request(
    request: HttpRequest,
    path: AccessPath,
    decision: str,
    *,
    yes: tuple[str, Callable[[str], object], str],
    no: tuple[str, Callable[[str], object], str],
) -> HttpResponse:
    """A two-way decision on a request (claim, transfer, exception). `yes`/`no` are
    (the URL's word, the service call given the reason, the success message); saying
    yes takes an optional note, saying no needs a reason."""
    if decision == yes[0]:
        _, perform, done = yes
        form: forms.Form = DecisionForm(request.POST)
        slot = "decision"
    elif decision == no[0]:
        _, perform, done = no
        form = ReasonRequiredForm(request.POST)
        slot = "reason_required"
    else:
        raise Http404("No such action.")
    return _run(
        request, path, slot=slot, form=form, perform=lambda data: perform(data["reason"]), done=done
    )


@login_required
@require_POST
def claim_decide(request: HttpRequest, path_id: str, claim_id: int, decision: str) -> HttpResponse:
    path = visible_path_or_404(request, path_id)
    claim = _claim_of(path, claim_id)
    actor, now = actor_for(request), request_now(request)
    return decide_request(
        request,
        path,
        decision,
        yes=(
            "approve",
            lambda reason: services.claim_approve(actor=actor, claim=claim, reason=reason, now=now),
            f"Approved: {claim.team.slug} owns this path now.",
        ),
        no=(
            "reject",
            lambda reason: services.claim_reject(actor=actor, claim=claim, reason=reason, now=now),
            f"Rejected {claim.team.slug}'s claim.",
        ),
    )


@login_required
@require_POST
def path_attest(request: HttpRequest, path_id: str) -> HttpResponse:
    path = visible_path_or_404(request, path_id)
    actor = actor_for(request)
    return _run(
        request,
        path,
        slot="attest",
        form=AttestForm(request.POST),
        perform=lambda data: services.path_attest(
            actor=actor,
            path=path,
            decision=data["decision"],
            still_needed=data["still_needed"],
            justification_accurate=data["justification_accurate"],
            least_privilege=data["least_privilege"],
            no_human_use=data["no_human_use"],
            note=data["note"],
            expected_version=data["version"],
            now=request_now(request),
        ),
        done="Attested. Thank you: the next review date has moved.",
    )


@login_required
@require_POST
def path_transfer(request: HttpRequest, path_id: str) -> HttpResponse:
    path = visible_path_or_404(request, path_id)
    actor = actor_for(request)
    return _run(
        request,
        path,
        slot="transfer",
        form=TransferForm(request.POST, path=path),
        perform=lambda data: services.path_transfer(
            actor=actor,
            path=path,
            to_team=data["to_team"],
            reason=data["reason"],
            expected_version=data["version"],
            now=request_now(request),
        ),
        done="Transfer offered: ownership moves when the receiving team accepts.",
    )


@login_required
@require_POST
def transfer_answer(
    request: HttpRequest, path_id: str, transfer_id: int, decision: str
) -> HttpResponse:
    path = visible_path_or_404(request, path_id)
    transfer = Transfer.objects.select_related("to_team").filter(pk=transfer_id, path=path).first()
    if transfer is None:
        raise Http404("No such transfer.")
    actor, now = actor_for(request), request_now(request)
    return decide_request(
        request,
        path,
        decision,
        yes=(
            "accept",
            lambda reason: services.transfer_accept(actor=actor, transfer=transfer, now=now),
            f"Accepted: {transfer.to_team.slug} owns this path now.",
        ),
        no=(
            "decline",
            lambda reason: services.transfer_decline(
                actor=actor, transfer=transfer, reason=reason, now=now
            ),
            "Declined: the path stays with its owner.",
        ),
    )


@login_required
@require_POST
def path_revoke(request: HttpRequest, path_id: str) -> HttpResponse:
    path = visible_path_or_404(request, path_id)
    actor = actor_for(request)
    return _run(
        request,
        path,
        slot="revoke",
        form=RevokeForm(request.POST),
        perform=lambda data: services.path_revoke(
            actor=actor,
            path=path,
            reason=data["reason"],
            expected_version=data["version"],
            now=request_now(request),
        ),
        done="Revoked. Integrations were told so they can disable it downstream.",
    )


@login_required
@require_POST
def exception_request(request: HttpRequest, path_id: str) -> HttpResponse:
    path = visible_path_or_404(request, path_id)
    actor = actor_for(request)
    return _run(
        request,
        path,
        slot="exception",
        form=ExceptionRequestForm(request.POST),
        perform=lambda data: services.exception_request(
            actor=actor,
            path=path,
            rule=data["rule"],
            reason=data["reason"],
            expires_at=data["expires_at"],
            now=request_now(request),
        ),
        done="Exception requested: a security reviewer will decide.",
    )


@login_required
@require_POST
def exception_decide(
    request: HttpRequest, path_id: str, exception_id: int, decision: str
) -> HttpResponse:
    path = visible_path_or_404(request, path_id)
    exception = PolicyException.objects.filter(pk=exception_id, path=path).first()
    if exception is None:
        raise Http404("No such exception.")
    actor, now = actor_for(request), request_now(request)
    return decide_request(
        request,
        path,
        decision,
        yes=(
            "approve",
            lambda reason: services.exception_approve(
                actor=actor, exception=exception, reason=reason, now=now
            ),
            "Exception approved until its end date.",
        ),
        no=(
            "reject",
            lambda reason: services.exception_reject(
                actor=actor, exception=exception, reason=reason, now=now
            ),
            "Exception rejected.",
        ),
    )


@login_required
@require_http_methods(["GET", "POST"])
def path_edit(request: HttpRequest, path_id: str) -> HttpResponse:
    path = visible_path_or_404(request, path_id)
    actor = actor_for(request)
    if refusal := permissions.refuse_update(actor, path):
        return render(request, "registry/refused.html", {"message": refusal}, status=403)
    status = 200
    if request.method == "POST":
        form = PathEditForm(request.POST, instance=path)
        if form.is_valid():
            try:
                saved = services.path_update(
                    actor=actor,
                    path=path,
                    changes=form.changes(),
                    expected_version=form.cleaned_data["version"],
                    reason=form.cleaned_data["change_reason"],
                    now=request_now(request),
                )
            except ServiceError as exc:
                show_refusal(form, exc)
                status = error_status(exc)
            else:
                if getattr(saved, "held_change", None) is not None:
                    messages.success(request, HELD_MESSAGE)
                else:
                    messages.success(request, "Saved.")
                return redirect("registry:path-detail", path_id=path.pk)
        else:
            hide_secrets(form)
            status = 400
    else:
        form = PathEditForm(instance=path, initial={"version": path.version})
    describe_errors(form)
    return render(
        request,
        "registry/path_edit.html",
        {
            "path": path,
            "form": form,
            "fieldsets": grouped(form),
            "cancel": reverse("registry:path-detail", args=[path.pk]),
        },
        status=status,
    )
