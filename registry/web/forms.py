"""Forms for the pages: they parse and render input; the services decide.

A form's own validation only turns text into values (a date, a team); every rule about
who may do what and which values are acceptable lives in the services, whose errors the
views put back onto these forms' fields.
"""

from __future__ import annotations

from typing import TypeVar

from django import forms
from django.db import models
from django.urls import reverse
from django.utils.datastructures import MultiValueDict
from django.utils.html import format_html
from django.utils.safestring import SafeString

from registry.importers.formats import FORMATS
from registry.models import AccessPath, Attestation, Notification, PolicyException, Team
from registry.rules.errors import Invalid, ServiceError
from registry.rules.path_fields import (
    AUTHORITY_TEAM_FIELDS,
    EDITABLE_FIELD_ORDER,
    EDITABLE_FIELDS,
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
TEAM_FILTERS = ("owner_team", "steward_team")
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
    input_type = "datetime-local"

    def format_value(self, value):
        if hasattr(value, "strftime"):
            return value.strftime("%Y-%m-%dT%H:%M")
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
    """`teams`: the teams this person may claim for (already loaded: no query here)."""

    id_prefix = "claim"

    team = forms.ChoiceField()
    reason = _reason("Why your team owns it")
    proposed_expires_at = _datetime("Proposed expiry")

    def __init__(self, *args, teams: list[Team], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._teams = {team.slug: team for team in teams}
        _field(self, "team", forms.ChoiceField).choices = [(t.slug, t.name) for t in teams]
        if len(teams) == 1:
            self.fields["team"].initial = teams[0].slug

    def clean_team(self) -> Team:
        return self._teams[self.cleaned_data["team"]]


class DecisionForm(PageForm):
    """Approve a claim or an exception, accept a transfer: an optional note."""

    id_prefix = "decision"

    reason = _reason(required=False)


class ReasonRequiredForm(PageForm):
    id_prefix = "reason"
    reason = _reason()


class AttestForm(PageForm):
    id_prefix = "attest"
    version = forms.IntegerField(widget=forms.HiddenInput)
    still_needed = forms.BooleanField(required=False, label="It is still needed")
    justification_accurate = forms.BooleanField(
        required=False, label="The justification and ticket are accurate"
    )
    least_privilege = forms.BooleanField(
        required=False, label="Its scope is the least privilege the job needs"
    )
    no_human_use = forms.BooleanField(required=False, label="No person uses it interactively")
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
    id_prefix = "exception"
    rule = forms.ChoiceField(choices=PolicyException.Rule.choices, label="Posture rule")
    reason = _reason("Why the rule should not apply")
    expires_at = _datetime("Exception ends", required=True)


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
        fields = list(EDITABLE_FIELD_ORDER)
        labels = {
            "approved_by": "Authority approved by (person)",
            "approved_by_team": "Approver's team",
            "approved_at": "Approved at",
            "approval_ticket_url": "Approval ticket",
            "iam_team": "IAM owner (identity design)",
            "pam_team": "PAM owner (elevation boundary)",
            "secops_team": "Security monitoring owner",
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


class TokenCreateForm(PageForm):
    id_prefix = "token"
    name = forms.CharField(max_length=100)
    scopes = forms.MultipleChoiceField(
        choices=[("read", "Read"), ("write", "Write")],
        widget=forms.CheckboxSelectMultiple,
        initial=["read"],
    )
    expires_in_days = forms.IntegerField(label="Expires in (days)", initial=90, min_value=1)


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
