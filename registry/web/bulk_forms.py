"""The inventory's bulk action bar (templates/registry/_bulk_bar.html, acted on by
views/bulk_paths.py): one form per action, each asked once for the whole selection;
what a row's checkbox sends; and the per-row outcome carried to the next page.

The forms reuse the single-path forms' fields (AttestForm, RevokeForm, ...) so a
confirmation, a reason or an expiry reads and parses the same for one path or fifty.
They carry no version: each selected row carries its own (`row_value`), so a path that
changed since the page was shown is refused as stale, row by row.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django import forms
from django.contrib.sessions.backends.base import SessionBase
from django.urls import reverse

from registry.models import AccessPath, Team
from registry.web.bulk import BulkOutcome, RowResult
from registry.web.forms import (
    AttestForm,
    ExceptionRequestForm,
    RevokeForm,
    TeamChoiceField,
    TeamSuggestInput,
    TransferForm,
)

# The transfer's team input as named in the page (prefixed): its suggestions are
# answered by the inventory (views/inventory.path_list).
BULK_TRANSFER_TEAM = "transfer-to_team"
# The name of the submit button's field that says which action the bar asks for.
ACTION_FIELD = "action"
UNKNOWN_ACTION = "Choose an action: attest, transfer, revoke or request an exception."


class _BulkForm(forms.Form):
    """Every action's fields share one HTML form (the table's): each form is prefixed with
    its action so two actions' `reason` fields never collide, and renders no `required`
    attribute, which would stop the browser sending another action whose fields are
    filled while this one's are empty."""

    use_required_attribute = False
    action = ""
    title = ""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("prefix", self.action)
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class BulkAttestForm(_BulkForm):
    """The four confirmations, once. The decision is keep: reducing the scope needs a note
    about each path, and revoking is the revoke action."""

    action = "attest"
    title = "Attest"
    still_needed = AttestForm.base_fields["still_needed"]
    justification_accurate = AttestForm.base_fields["justification_accurate"]
    least_privilege = AttestForm.base_fields["least_privilege"]
    no_human_use = AttestForm.base_fields["no_human_use"]
    note = forms.CharField(
        required=False, label="Note (optional)", widget=forms.Textarea(attrs={"rows": 2})
    )


class BulkTransferForm(_BulkForm):
    action = "transfer"
    title = "Transfer"
    to_team = TeamChoiceField(
        queryset=Team.objects.filter(is_active=True), to_field_name="slug", label="To team"
    )
    reason = TransferForm.base_fields["reason"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # The inventory answers the suggestions (views/inventory.path_list); the value
        # sent stays the slug, checked by the field. A selected path already owned by
        # that team is refused by the service, row by row.
        field = self.fields["to_team"]
        url = reverse("registry:path-list")
        field.widget = TeamSuggestInput(name=self.add_prefix("to_team"), url=url)
        field.help_text = "The receiving team's short name (slug); matching teams are suggested."


class BulkRevokeForm(_BulkForm):
    action = "revoke"
    title = "Revoke"
    reason = RevokeForm.base_fields["reason"]


class BulkExceptionForm(_BulkForm):
    action = "exception"
    title = "Request an exception"
    rule = forms.ChoiceField(label="Posture rule")
    reason = ExceptionRequestForm.base_fields["reason"]
    expires_at = ExceptionRequestForm.base_fields["expires_at"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # The single form's choices when no rule is known to be broken: the selected
        # paths break different rules, so none is preselected.
        self.fields["rule"] = ExceptionRequestForm().fields["rule"]


BULK_FORMS: dict[str, type[_BulkForm]] = {
    form.action: form
    for form in (BulkAttestForm, BulkTransferForm, BulkRevokeForm, BulkExceptionForm)
}


def bulk_forms(data=None, *, bound: str = "") -> list[_BulkForm]:
    """The bar's forms in the order shown; the one named `bound` reads `data`."""
    return [form(data) if action == bound else form() for action, form in BULK_FORMS.items()]


@dataclass(frozen=True)
class Selected:
    """A ticked row: the path's id and the version the page showed."""

    path_id: str
    version: int


def row_value(path: AccessPath) -> str:
    """What a row's checkbox sends: its id and the version shown, so acting on a path
    someone changed meanwhile is refused as stale instead of overriding their change."""
    return f"{path.pk}:{path.version}"


def parse_row_value(value: str) -> Selected | None:
    """A checkbox's value back, or None when it is not one (reported as a path nobody
    can see, never a 500)."""
    path_id, _, version = value.partition(":")
    try:
        pk = uuid.UUID(path_id)
    except ValueError:
        return None
    if not version.isdigit() or len(version) > 9:
        return None
    return Selected(str(pk), int(version))


# The outcome of the last bulk action, shown once by the next inventory page
# (POST-redirect-GET: a reload shows the page, it does not act again).
_OUTCOME_KEY = "bulk_paths_outcome"


def keep_outcome(session: SessionBase, title: str, outcome: BulkOutcome) -> None:
    rows = [[row.label, row.url, row.ok, row.message] for row in outcome.rows]
    session[_OUTCOME_KEY] = {"title": title, "rows": rows}


def take_outcome(session: SessionBase) -> tuple[str, BulkOutcome] | None:
    """The outcome kept for this page, removed as it is read (shown once)."""
    kept = session.pop(_OUTCOME_KEY, None)
    if not isinstance(kept, dict):
        return None
    rows = [RowResult(str(a), str(b), bool(c), str(d)) for a, b, c, d in kept["rows"]]
    return str(kept["title"]), BulkOutcome(rows)
