"""The sign-off model's pages (issue 18): the path page's "Sign-off" card (its policy, a
lead's edit form, recent agent actions: templates/registry/_signoff.html) and the leads'
queue of agents' actions waiting for sign-off, decided in place (HTMX, like the claim
queue in queues.py). Every rule is services/signoff.py's and rules/signoff.py's."""

from __future__ import annotations

from dataclasses import dataclass

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST

from registry.models import AccessPath, AgentAction, SignoffPolicy
from registry.rules import errors
from registry.rules import signoff as rules
from registry.rules.actors import Actor
from registry.rules.errors import Invalid
from registry.rules.policies import current_policy
from registry.rules.posture import SIGNOFF_TIERS
from registry.selectors.my_work import QueueRow
from registry.selectors.signoff import (
    recent_agent_actions,
    signoff_policy_of,
    signoff_queue,
    visible_agent_actions,
)
from registry.services import signoff as services
from registry.web.forms import PageForm, blank_value
from registry.web.views._common import actor_for, request_now, visible_path_or_404
from registry.web.views.paths import _run
from registry.web.views.queues import Decision, decide_in_place

QUEUE_SIZE = 50
_SECRET = errors.LOOKS_LIKE_SECRET.split("{", 1)[0]


def _words(text: str) -> list[str]:
    """Names typed one per line or separated by commas."""
    return [word.strip() for word in text.replace(",", "\n").splitlines() if word.strip()]


def _joined(values: list[str]) -> str:
    return "\n".join(values)


class SignoffPolicyForm(PageForm):
    """A path's sign-off policy, as a lead types it; the service validates."""

    id_prefix = "signoff"
    actions = forms.CharField(
        label="Actions that always need sign-off",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="One per line or separated by commas: deploy, delete_data.",
    )
    allowed_scopes = forms.CharField(
        label="Scopes allowed without sign-off",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Any other scope needs sign-off. Empty: scopes are no threshold.",
    )
    data_classes = forms.CharField(
        label="Data classes that need sign-off",
        required=False,
        widget=forms.Textarea(attrs={"rows": 1}),
        help_text="For example pii, pci.",
    )
    max_records = forms.IntegerField(
        label="Most records without sign-off", required=False, help_text="Empty: no limit."
    )
    rollback_path = forms.CharField(
        label="Rollback path",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="How to undo an action that went wrong: what the person signing off relies on.",
    )
    reason = forms.CharField(label="Why (optional)", required=False)
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    @classmethod
    def for_policy(cls, policy: SignoffPolicy | None) -> SignoffPolicyForm:
        if policy is None:
            return cls(initial={"version": 0})
        return cls(
            initial={
                "actions": _joined(policy.actions),
                "allowed_scopes": _joined(policy.allowed_scopes),
                "data_classes": _joined(policy.data_classes),
                "max_records": policy.max_records,
                "rollback_path": policy.rollback_path,
                "version": policy.version,
            }
        )

    def policy_data(self) -> dict:
        data = self.cleaned_data
        return {
            "actions": _words(data["actions"]),
            "allowed_scopes": _words(data["allowed_scopes"]),
            "data_classes": _words(data["data_classes"]),
            "max_records": data["max_records"],
            "rollback_path": data["rollback_path"],
        }


@dataclass(frozen=True)
class SignoffPanel:
    policy: SignoffPolicy | None
    actions: list[AgentAction]
    may_edit: bool
    needs_one: bool
    form: forms.Form | None


def signoff_panel(actor: Actor, path: AccessPath, bound: forms.Form | None) -> SignoffPanel:
    """The path page's card: two queries (the policy, the newest actions)."""
    policy = signoff_policy_of(path)
    may_edit = rules.refuse_signoff_change(actor, path) is None
    needs_one = (
        path.kind == AccessPath.Kind.AGENT_CREDENTIAL
        or path.created_via == AccessPath.CreatedVia.AI_AGENT
        or path.risk_tier in SIGNOFF_TIERS
    )
    form = (bound or SignoffPolicyForm.for_policy(policy)) if may_edit else None
    return SignoffPanel(policy, recent_agent_actions(path), may_edit, needs_one, form)


@login_required
@require_POST
def signoff_policy_edit(request: HttpRequest, path_id: str) -> HttpResponse:
    path = visible_path_or_404(request, path_id)
    actor, now = actor_for(request), request_now(request)
    form = SignoffPolicyForm(request.POST)

    def perform(data: dict) -> None:
        try:
            services.signoff_policy_set(
                actor=actor,
                path=path,
                data=form.policy_data(),
                reason=data["reason"],
                expected_version=data["version"],
                now=now,
            )
        except Invalid as exc:
            # A refused value that looks like a credential is not shown back.
            for field, messages in exc.errors.items():
                if field in form.fields and any(m.startswith(_SECRET) for m in messages):
                    blank_value(form, field)
            raise

    return _run(
        request, path, slot="signoff", form=form, perform=perform, done="Sign-off policy saved."
    )


# --- the leads' queue -------------------------------------------------------------------


@login_required
def signoff_queue_page(request: HttpRequest) -> HttpResponse:
    rows = signoff_queue(
        actor=actor_for(request), now=request_now(request), policy=current_policy(), size=QUEUE_SIZE
    )
    return render(request, "registry/queue_signoff.html", {"rows": rows, "size": QUEUE_SIZE})


@login_required
@require_POST
def signoff_decide(request: HttpRequest, action_id: int, decision: str) -> HttpResponse:
    actor, now = actor_for(request), request_now(request)
    action = visible_agent_actions(actor=actor).filter(pk=action_id).first()
    if action is None:
        raise Http404("No such sign-off request.")
    name = f"{action.action} on {action.path.name}"
    ways = {
        "approve": Decision(
            lambda reason: services.agent_action_decide(
                actor=actor, action=action, approve=True, reason=reason, now=now
            ),
            f"Signed off: {name}.",
            needs_reason=False,
        ),
        "reject": Decision(
            lambda reason: services.agent_action_decide(
                actor=actor, action=action, approve=False, reason=reason, now=now
            ),
            f"Refused: {name}.",
            needs_reason=True,
        ),
    }
    return decide_in_place(
        request,
        QueueRow(action),
        ways.get(decision),
        kind="signoff",
        queue_url=reverse("registry:queue-signoff"),
    )
