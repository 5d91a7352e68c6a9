"""Forms for the pages: they parse and render input; the services decide.

A form's own validation only turns text into values (a date, a team); every rule about
who may do what and which values are acceptable lives in the services, whose errors the
views put back onto these forms' fields.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import TypeVar

from django import forms
from django.core import signing
from django.db import models
from django.urls import reverse
from django.utils.datastructures import MultiValueDict
from django.utils.html import format_html
from django.utils.safestring import SafeString

from registry.importers.formats import FORMATS
from registry.models import AccessPath, Attestation, Notification, PolicyException, Team
from registry.rules.errors import ATTEST_CONFIRMATIONS, Invalid, ServiceError
from registry.rules.path_fields import (
    AUTHORITY_TEAM_FIELDS,
    EDITABLE_FIELD_ORDER,
    EDITABLE_FIELDS,
    REPORTED_FIELDS,
)
from registry.selectors import path_identifiers
from registry.services import identifiers as identifier_rules

UTC_HELP = "Date and time in UTC."

_F = TypeVar("_F", bound=forms.Field)


def _field(form: forms.BaseForm, name: str, kind: type[_F]) -> _F:
    """The form's own copy of its field `name`, which is a `kind`."""
    field = form.fields[name]
    if not isinstance(field, kind):
        raise TypeError(f"{name} is a {type(field).__name__}, not a {kind.__name__}")
    return field


class TeamChoiceField(forms.ModelChoiceField):
    """A team by slug, shown by its name."""

    def label_from_instance(self, obj: Team) -> str:
        return obj.name


# The inventory's team filters: typed as a slug, with suggestions loaded as one types.
TEAM_FILTERS = (
    "owner_team",
    "steward_team",
    "approved_by_team",
    "iam_team",
    "pam_team",
    "secops_team",
    "merged_by_team",
)
TEAM_SUGGESTIONS = 20


def suggestions_id(name: str) -> str:
    return f"{name}-suggestions"


class TeamSuggestInput(forms.TextInput):
    """A team's slug typed into a text input, with a <datalist> of matching teams that the
    page loads from `url` as one types (HTMX; the view answers the request whose HX-Target
    is the list). Not a dropdown of every team: rendering a couple of hundred options was
    half of a page's time. Without JavaScript it is a plain text input for the slug."""

    def __init__(self, *, name: str, url: str, hint: str = "") -> None:
        target = suggestions_id(name)
        attrs = {
            "list": target,
            "autocomplete": "off",
            "spellcheck": "false",
            "hx-get": url,
            "hx-trigger": "focus once, input changed delay:250ms",
            "hx-target": f"#{target}",
            "hx-select": f"#{target}",
            "hx-swap": "outerHTML",
            # Not an enclosing form's (inherited) URL push and page swap.
            "hx-push-url": "false",
            "hx-sync": "this:replace",
        }
        if hint:
            attrs["aria-describedby"] = hint
        super().__init__(attrs=attrs)
        self.list_id = target

    def render(self, name, value, attrs=None, renderer=None) -> SafeString:
        field = super().render(name, value, attrs, renderer)
        return format_html('{}<datalist id="{}"></datalist>', field, self.list_id)


def inventory_filter_form(form: forms.Form, *, url: str) -> forms.Form:
    """The FilterSet's form as the inventory renders it: each team filter a
    TeamSuggestInput. The value sent stays the slug, which the FilterSet checks as
    before (an unknown one is refused)."""
    for name in TEAM_FILTERS:
        form.fields[name].widget = TeamSuggestInput(name=name, url=url, hint=f"{name}-hint")
    return form


class UTCDateTimeInput(forms.DateTimeInput):
    """A date and time to the second. Rendered with its seconds (and `step` 1, so the
    browser keeps them), a date sent back as it was shown equals the form's initial
    value (which drops only microseconds, as this widget does not show them): the field
    is not in `changed_data`, so an edit leaves the stored value, to the microsecond,
    alone. Cut to the minute, every save changed the expiry."""

    input_type = "datetime-local"

    def __init__(self, attrs: dict | None = None) -> None:
        super().__init__(attrs={"step": "1", **(attrs or {})})

    def format_value(self, value):
        if hasattr(value, "strftime"):
            return value.strftime("%Y-%m-%dT%H:%M:%S")
        return value


def https_by_default(field, **kwargs):
    """ModelForm fields: a URL typed without a scheme means https (Django 6's default)."""
    if isinstance(field, models.URLField):
        kwargs.setdefault("assume_scheme", "https")
    return field.formfield(**kwargs)


def _datetime(label: str, *, required: bool = False) -> forms.DateTimeField:
    return forms.DateTimeField(
        label=label, required=required, widget=UTCDateTimeInput(), help_text=UTC_HELP
    )


def _reason(label: str = "Reason", *, required: bool = True) -> forms.CharField:
    return forms.CharField(label=label, required=required, widget=forms.Textarea(attrs={"rows": 2}))


class PageForm(forms.Form):
    """Several forms share one page: each gets its own element ids (so every label
    points at its own field) and labels without a trailing colon."""

    id_prefix = "form"

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("auto_id", f"{self.id_prefix}_%s")
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


def apply_service_errors(form: forms.BaseForm, exc: ServiceError) -> None:
    """Show a service's refusal on the form: field errors next to their fields, any
    other refusal (not allowed, a state that moved on) above them."""
    if not isinstance(exc, Invalid):
        form.add_error(None, exc.message)
        return
    for field, messages in exc.errors.items():
        target = field if field in form.fields else None
        for message in messages:
            form.add_error(target, message)


def blank_value(form: forms.BaseForm, name: str) -> None:
    """Show `name` back empty: whatever was refused may be a credential. The form's
    data is copied first (a request's QueryDict is immutable)."""
    data = form.data.copy() if isinstance(form.data, MultiValueDict) else dict(form.data)
    data[name] = ""
    form.data = data


class ClaimForm(PageForm):
    """`teams`: the teams this person may claim for (already loaded: no query here).
    The ticket and justification start as the path's own: what the record will say once
    the claim is approved, so the claimant confirms or completes it (the service checks
    them as it checks a registration)."""

    id_prefix = "claim"

    team = forms.ChoiceField()
    reason = _reason("Why your team owns it")
    # Required in the browser so an approved claim is a complete record: the field starts
    # as the path's own link, so only a path without one asks for typing. (The API keeps
    # it optional for pipelines that claim paths already carrying a ticket.)
    ticket_url = forms.CharField(
        label="Ticket link",
        max_length=500,
        help_text="The http(s) link to the ticket that asked for this access.",
    )
    justification = forms.CharField(
        label="Justification",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What uses this access and why; left empty, your reason above is used.",
    )
    proposed_expires_at = _datetime("Proposed expiry")

    def __init__(self, *args, teams: list[Team], path: AccessPath, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._teams = {team.slug: team for team in teams}
        _field(self, "team", forms.ChoiceField).choices = [(t.slug, t.name) for t in teams]
        if len(teams) == 1:
            self.fields["team"].initial = teams[0].slug
        self.fields["ticket_url"].initial = path.ticket_url
        self.fields["justification"].initial = path.justification

    def clean_team(self) -> Team:
        return self._teams[self.cleaned_data["team"]]


class DecisionForm(PageForm):
    """Approve a claim or an exception, accept a transfer: an optional note."""

    id_prefix = "decision"

    reason = _reason(required=False)


class ReasonRequiredForm(PageForm):
    id_prefix = "reason"
    reason = _reason()


def _confirmation(name: str) -> forms.BooleanField:
    # Worded where the service's message naming a missing confirmation reads it.
    return forms.BooleanField(required=False, label=ATTEST_CONFIRMATIONS[name])


class AttestForm(PageForm):
    id_prefix = "attest"
    version = forms.IntegerField(widget=forms.HiddenInput)
    still_needed = _confirmation("still_needed")
    justification_accurate = _confirmation("justification_accurate")
    least_privilege = _confirmation("least_privilege")
    no_human_use = _confirmation("no_human_use")
    decision = forms.ChoiceField(
        choices=Attestation.Decision.choices, widget=forms.RadioSelect, initial="keep"
    )
    note = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Required when you reduce the scope: say what changes.",
    )


class TransferForm(PageForm):
    id_prefix = "transfer"
    version = forms.IntegerField(widget=forms.HiddenInput)
    to_team = TeamChoiceField(
        queryset=Team.objects.filter(is_active=True), to_field_name="slug", label="To team"
    )
    reason = _reason()

    def __init__(self, *args, path: AccessPath, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        field = _field(self, "to_team", TeamChoiceField)
        field.queryset = transfer_targets(path)
        # The path page answers the suggestions (web/views/paths.py path_detail).
        url = reverse("registry:path-detail", args=[path.pk])
        field.widget = TeamSuggestInput(name="to_team", url=url)
        field.help_text = "The receiving team's short name (slug); matching teams are suggested."


def transfer_targets(path: AccessPath) -> models.QuerySet[Team]:
    """The teams a path may be offered to: active ones other than its owner."""
    teams = Team.objects.filter(is_active=True)
    if path.owner_team_id is not None:
        teams = teams.exclude(pk=path.owner_team_id)
    return teams


class RevokeForm(PageForm):
    id_prefix = "revoke"
    version = forms.IntegerField(widget=forms.HiddenInput)
    reason = _reason("Why it is revoked")


class ExceptionRequestForm(PageForm):
    """`broken`: the codes of the rules the path breaks now (rules/posture.path_violations).
    Those are listed first and the first of them is preselected; the others stay
    choosable (a rule about to be broken, say) under their own heading. With none broken,
    nothing is preselected: a waiver nobody chose is never requested by default."""

    id_prefix = "exception"
    rule = forms.ChoiceField(choices=PolicyException.Rule.choices, label="Posture rule")
    reason = _reason("Why the rule should not apply")
    expires_at = _datetime("Exception ends", required=True)

    def __init__(self, *args, broken: Sequence[str] = (), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        labels = dict(PolicyException.Rule.choices)
        first = [(code, labels[code]) for code in broken if code in labels]
        rest = [(code, label) for code, label in labels.items() if code not in broken]
        field = _field(self, "rule", forms.ChoiceField)
        if first:
            field.choices = [("Rules it breaks", first), ("Other rules", rest)]
            field.initial = first[0][0]
        else:
            field.choices = [("", "Choose a rule"), *rest]


class TeamsField(forms.ModelMultipleChoiceField):
    """Several teams by slug, shown by name; an empty entry (a script posting "" for
    "none") is none."""

    def label_from_instance(self, obj: Team) -> str:
        return obj.name

    def clean(self, value):
        if isinstance(value, list | tuple):
            value = [v for v in value if v]
        return super().clean(value or [])


class PathEditForm(forms.ModelForm):
    version = forms.IntegerField(widget=forms.HiddenInput)
    identifiers = forms.CharField(
        label="Identifiers",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One kind:value per line; kinds: key_id, principal, fingerprint (SHA-256 "
        "hex of the credential, computed where it is), client_id. Never the credential.",
    )
    revoker_teams = TeamsField(
        queryset=Team.objects.filter(is_active=True),
        to_field_name="slug",
        required=False,
        label="Teams that may also revoke it",
        help_text="Besides the owning team and the steward.",
    )
    change_reason = forms.CharField(
        label="Reason for the change", required=False, widget=forms.TextInput()
    )

    class Meta:
        model = AccessPath
        formfield_callback = https_by_default
        fields = [name for name in EDITABLE_FIELD_ORDER if name not in REPORTED_FIELDS]
        labels = {
            "external_id": "External id",
            "ticket_url": "Ticket link",
            "artifact_ref": "Artifact or policy rule",
            "created_via": "Created via",
            "created_by_ref": "Created by (pipeline, job or agent id)",
            "rotation_days": "Rotate every (days)",
            "review_interval_days": "Review every (days)",
            "approved_by": "Authority approved by (person)",
            "approved_by_team": "Approver's team",
            "approved_at": "Approved at",
            "approval_ticket_url": "Approval ticket",
            "iam_team": "IAM owner (identity design)",
            "pam_team": "PAM owner (elevation boundary)",
            "secops_team": "Security monitoring owner",
            "change_url": "Change (pull request or commit)",
            "merged_by": "Merged by (person)",
            "merged_by_team": "Merger's team",
            "proposed_by": "Proposed by (tool or agent)",
            "issuer_kind": "Issues credentials as",
            "max_lease_seconds": "Longest lease (seconds)",
        }
        help_texts = {
            "system": "Where the credential lives, in lower case: aws, github, kubernetes, ...",
            "external_id": "Its id in that system (ARN, client id, key name): never the secret.",
            "consumers": "What uses it; one per line.",
            "ticket_url": "The ticket or change record where the access was decided.",
            "justification": "What uses this access and why, specifically.",
            "privilege_scope": "The roles or scopes it holds, as the system names them.",
            "risk_tier": "High and critical paths need a named approver and are reviewed "
            "more often.",
            "review_interval_days": "Left empty on a new path: the risk tier's interval.",
            "change_url": "The pull request or commit that made this access.",
            "merged_by_team": "Owns the access when no owning team is chosen.",
            "proposed_by": "The AI tool or agent that proposed the change, with its version.",
            "max_lease_seconds": "A whole number of seconds; only for an issuer.",
        }
        widgets = {
            "consumers": forms.Textarea(attrs={"rows": 2}),
            "justification": forms.Textarea(attrs={"rows": 3}),
            "privilege_scope": forms.Textarea(attrs={"rows": 2}),
            "revocation_plan": forms.Textarea(attrs={"rows": 2}),
            "rollback_plan": forms.Textarea(attrs={"rows": 2}),
            "last_rotated_at": UTCDateTimeInput(),
            "last_used_at": UTCDateTimeInput(),
            "expires_at": UTCDateTimeInput(),
            "approved_at": UTCDateTimeInput(),
        }

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("label_suffix", "")  # labels read as the words, as on PageForms
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            live = path_identifiers(path=self.instance)
            self.initial["identifiers"] = "\n".join(f"{i.kind}:{i.value}" for i in live)
            revokers = self.instance.revoker_teams.values_list("slug", flat=True)
            self.initial["revoker_teams"] = list(revokers)
        for name in ("steward_team", *AUTHORITY_TEAM_FIELDS):
            # The field speaks slugs; the model's initial value is the team's id.
            field = _field(self, name, forms.ModelChoiceField)
            field.to_field_name = "slug"
            field.queryset = Team.objects.filter(is_active=True)
            team = getattr(self.instance, name) if getattr(self.instance, f"{name}_id") else None
            self.initial[name] = team.slug if team else None
        for name in ("last_rotated_at", "last_used_at", "expires_at", "approved_at"):
            self.fields[name].help_text = UTC_HELP

    def _post_clean(self) -> None:
        """The services validate the record (and the ModelForm must not write to the
        instance): skip Django's model validation here."""

    def changes(self) -> dict:
        changes = {
            name: self.cleaned_data[name] for name in self.changed_data if name in EDITABLE_FIELDS
        }
        if "revoker_teams" in self.changed_data:
            changes["revoker_teams"] = list(self.cleaned_data["revoker_teams"])
        if "identifiers" in self.changed_data:
            # Parsed (and every rule applied) by the service; a line it refuses comes
            # back as this field's error.
            changes["identifiers"] = self._identifier_pairs
        return changes

    def clean_identifiers(self) -> str:
        text = self.cleaned_data.get("identifiers", "")
        try:
            self._identifier_pairs = identifier_rules.parse_text(text)
        except Invalid as exc:
            blank_value(self, "identifiers")
            raise forms.ValidationError(exc.message) from None
        return text


def _active_team(label: str) -> TeamChoiceField:
    return TeamChoiceField(
        queryset=Team.objects.filter(is_active=True),
        to_field_name="slug",
        required=False,
        label=label,
    )


class ControlPolicyForm(PageForm):
    """One system's default control-point owners (an empty choice: no default)."""

    id_prefix = "policy"
    system = forms.CharField(max_length=64, help_text="As paths name it: aws, github, ...")
    iam_team = _active_team("IAM (identity design)")
    pam_team = _active_team("PAM (elevation boundary)")
    secops_team = _active_team("Security operations (monitoring)")
    offers_workload_identity = forms.BooleanField(
        required=False,
        label="The platform offers workload identity",
        help_text="OIDC federation, IRSA, Workload Identity Federation, SPIFFE: a static or "
        "long-lived key on this system then breaks NHI6.",
    )
    version = forms.IntegerField(
        required=False,
        widget=forms.HiddenInput,
        help_text="The version you saw; empty to overwrite whatever is there.",
    )


class TeamChannelsForm(forms.ModelForm):
    """Where a team's reminders and events go. The event webhook's signing secret is
    generated by the service and shown to the team's leads on the team page."""

    class Meta:
        model = Team
        formfield_callback = https_by_default
        fields = ["email", "slack_webhook_url", "teams_webhook_url", "event_webhook_url"]
        labels = {
            "email": "Team email",
            "slack_webhook_url": "Slack incoming webhook",
            "teams_webhook_url": "Microsoft Teams incoming webhook",
            "event_webhook_url": "Event webhook (Standard Webhooks)",
        }

    def _post_clean(self) -> None:
        """The service validates (and the ModelForm must not write to the instance)."""

    def changes(self) -> dict:
        return {name: self.cleaned_data[name] for name in self.changed_data}


# How long a token form's one-time key stays good: long enough to fill the form in,
# short enough that an old tab's key is not kept for ever.
TOKEN_FORM_MAX_AGE_SECONDS = 3600
# A message and a signing namespace, not secrets.
TOKEN_FORM_EXPIRED = "This form has expired or was not issued to you: create the token again."  # noqa: S105
_TOKEN_ONCE_SALT = "registry.web.forms.TokenCreateForm.once"  # noqa: S105


class _FreshHiddenField(forms.CharField):
    """A hidden value that is always rendered as the form's initial one, even on a form
    sent back with errors (Django would echo what was posted)."""

    widget = forms.HiddenInput

    def bound_data(self, data, initial):
        return initial


class TokenCreateForm(PageForm):
    """Creating a team token. `once` is a one-time key for this form (signed, bound to
    the person and the team, short-lived): token_create creates at most one token per
    key, so sending the form twice (a reload) cannot create a second token. See
    docs/tokens-in-the-browser.md. Each rendering carries a fresh key."""

    id_prefix = "token"
    name = forms.CharField(max_length=100)
    scopes = forms.MultipleChoiceField(
        choices=[("read", "Read"), ("write", "Write")],
        widget=forms.CheckboxSelectMultiple,
        initial=["read"],
    )
    expires_in_days = forms.IntegerField(label="Expires in (days)", initial=90, min_value=1)
    once = _FreshHiddenField(required=False)

    def __init__(self, *args, team: Team, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._binding = {"u": user.pk, "t": team.pk}
        key = {**self._binding, "n": secrets.token_hex(8)}
        self.fields["once"].initial = signing.dumps(key, salt=_TOKEN_ONCE_SALT)

    def clean_once(self) -> str:
        """The key's random part, or "" for a request that sent none (a script posting
        the form: it asked for no protection against sending it twice)."""
        raw = self.cleaned_data["once"]
        if not raw:
            return ""
        try:
            key = signing.loads(raw, salt=_TOKEN_ONCE_SALT, max_age=TOKEN_FORM_MAX_AGE_SECONDS)
        except signing.BadSignature:
            key = {}
        if not isinstance(key, dict) or {k: key.get(k) for k in self._binding} != self._binding:
            # Above the fields: the key is hidden, the person can only send the form again.
            self.add_error(None, TOKEN_FORM_EXPIRED)
            return ""
        return str(key["n"])


class ChannelTestForm(PageForm):
    id_prefix = "test"
    channel = forms.ChoiceField(choices=Notification.Channel.choices)


class ImportUploadForm(PageForm):
    id_prefix = "import"
    file = forms.FileField(label="File")
    format = forms.ChoiceField(choices=[(f, f) for f in FORMATS], label="Format")
    system = forms.CharField(
        required=False, max_length=64, help_text="The system name to record (optional)."
    )
    steward_team = TeamChoiceField(
        queryset=Team.objects.filter(is_active=True),
        to_field_name="slug",
        required=False,
        label="Steward team",
        help_text="For rows that name none: the platform team that runs this source.",
    )
    dry_run = forms.BooleanField(required=False, label="Dry run: report, change nothing")
    partial = forms.BooleanField(required=False, label="Apply the good rows if some fail")
    full_sync = forms.BooleanField(
        required=False, label="Full sync: flag this source's paths the file does not list"
    )


class SavedFilterForm(PageForm):
    id_prefix = "saved"
    name = forms.CharField(max_length=80, label="Save this filter as")
    query = forms.CharField(widget=forms.HiddenInput, required=False)
