"""Forms for the pages: they parse and render input; the services decide.

A form's own validation only turns text into values (a date, a team); every rule about
who may do what and which values are acceptable lives in the services, whose errors the
views put back onto these forms' fields.
"""

from __future__ import annotations

from django import forms

from registry.errors import Invalid
from registry.models import AccessPath, Attestation, Notification, PolicyException, Team
from registry.services.paths import EDITABLE_FIELDS

UTC_HELP = "Date and time in UTC."


class UTCDateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def format_value(self, value):
        if hasattr(value, "strftime"):
            return value.strftime("%Y-%m-%dT%H:%M")
        return value


def _datetime(label: str, *, required: bool = False) -> forms.DateTimeField:
    return forms.DateTimeField(
        label=label, required=required, widget=UTCDateTimeInput(), help_text=UTC_HELP
    )


def _reason(label: str = "Reason", *, required: bool = True) -> forms.CharField:
    return forms.CharField(label=label, required=required, widget=forms.Textarea(attrs={"rows": 2}))


def apply_service_errors(form: forms.Form, exc: Invalid) -> None:
    """Show a service's field errors next to the fields they concern."""
    for field, messages in exc.errors.items():
        target = field if field in form.fields else None
        for message in messages:
            form.add_error(target, message)


class ClaimForm(forms.Form):
    """`teams`: the teams this person may claim for (already loaded: no query here)."""

    team = forms.ChoiceField()
    reason = _reason("Why your team owns it")
    proposed_expires_at = _datetime("Proposed expiry")

    def __init__(self, *args, teams: list[Team], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._teams = {team.slug: team for team in teams}
        self.fields["team"].choices = [(team.slug, team.name) for team in teams]
        if len(teams) == 1:
            self.fields["team"].initial = teams[0].slug

    def clean_team(self) -> Team:
        return self._teams[self.cleaned_data["team"]]


class DecisionForm(forms.Form):
    """Approve/reject a claim or an exception, decline a transfer: a reason."""

    reason = _reason(required=False)


class ReasonRequiredForm(forms.Form):
    reason = _reason()


class AttestForm(forms.Form):
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


class TransferForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput)
    to_team = forms.ModelChoiceField(
        queryset=Team.objects.filter(is_active=True), to_field_name="slug", label="To team"
    )
    reason = _reason()

    def __init__(self, *args, path: AccessPath, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["to_team"].queryset = Team.objects.filter(is_active=True).exclude(
            pk=path.owner_team_id
        )


class RevokeForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput)
    reason = _reason("Why it is revoked")


class ExceptionRequestForm(forms.Form):
    rule = forms.ChoiceField(choices=PolicyException.Rule.choices, label="Posture rule")
    reason = _reason("Why the rule should not apply")
    expires_at = _datetime("Exception ends", required=True)


class PathEditForm(forms.ModelForm):
    version = forms.IntegerField(widget=forms.HiddenInput)
    change_reason = forms.CharField(
        label="Reason for the change", required=False, widget=forms.TextInput()
    )

    class Meta:
        model = AccessPath
        fields = [
            "name", "kind", "system", "external_id", "environment", "steward_team",
            "created_via", "created_by_ref", "consumers", "ticket_url", "artifact_ref",
            "justification", "privilege_scope", "risk_tier", "data_classification",
            "credential_lifetime", "rotation_days", "last_rotated_at", "last_used_at",
            "requires_human_signoff", "revocation_plan", "expires_at", "review_interval_days",
        ]  # fmt: skip
        widgets = {
            "consumers": forms.Textarea(attrs={"rows": 2}),
            "justification": forms.Textarea(attrs={"rows": 3}),
            "privilege_scope": forms.Textarea(attrs={"rows": 2}),
            "revocation_plan": forms.Textarea(attrs={"rows": 2}),
            "last_rotated_at": UTCDateTimeInput(),
            "last_used_at": UTCDateTimeInput(),
            "expires_at": UTCDateTimeInput(),
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["steward_team"].to_field_name = "slug"
        self.fields["steward_team"].queryset = Team.objects.filter(is_active=True)
        for name in ("last_rotated_at", "last_used_at", "expires_at"):
            self.fields[name].help_text = UTC_HELP

    def _post_clean(self) -> None:
        """The services validate the record (and the ModelForm must not write to the
        instance): skip Django's model validation here."""

    def changes(self) -> dict:
        return {
            name: self.cleaned_data[name] for name in self.changed_data if name in EDITABLE_FIELDS
        }


class TeamChannelsForm(forms.ModelForm):
    """Where a team's reminders and events go. The event webhook's signing secret is
    generated by the service and shown to the team's leads on the team page."""

    class Meta:
        model = Team
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


class TokenCreateForm(forms.Form):
    name = forms.CharField(max_length=100)
    scopes = forms.MultipleChoiceField(
        choices=[("read", "Read"), ("write", "Write")],
        widget=forms.CheckboxSelectMultiple,
        initial=["read"],
    )
    expires_in_days = forms.IntegerField(label="Expires in (days)", initial=90, min_value=1)


class ChannelTestForm(forms.Form):
    channel = forms.ChoiceField(choices=Notification.Channel.choices)


class SavedFilterForm(forms.Form):
    name = forms.CharField(max_length=80, label="Save this filter as")
    query = forms.CharField(widget=forms.HiddenInput, required=False)
