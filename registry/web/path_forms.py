"""The register page's form, and the field layout it shares with the edit page.

The form only turns text into values (a team from its slug, a date from its text); what
is required, what is acceptable and who may register for which team is the register
service's to say (registry/services/paths.py), and its answers come back onto these
fields. Every field is optional here for that reason: "This field is required" has one
home, the service.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django import forms

from registry.models import Team
from registry.rules.errors import ServiceError
from registry.rules.path_fields import EDITABLE_FIELDS
from registry.rules.validation import secret_errors
from registry.web.forms import (
    PathEditForm,
    TeamChoiceField,
    _field,
    apply_service_errors,
    blank_value,
)

# The order a person thinks in: what it is, who answers for it, why it exists, how risky
# it is, how long it lives, who approved it, how to take it back. Fields a form lacks are
# skipped; any field not named here still shows, in a last group (nothing is ever lost).
FIELDSETS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "What it is",
        "The credential's identity, as the system that holds it names it.",
        ("name", "kind", "system", "environment", "external_id", "identifiers"),
    ),
    (
        "Who answers for it",
        "The owning team answers for the access; the steward runs the mechanism.",
        ("owner_team", "steward_team", "created_via", "created_by_ref", "consumers"),
    ),
    (
        "Provenance",
        "Required when a pipeline or an AI agent made it: the change that made it, who "
        "merged it and in which team (which owns it), and the tool that proposed it.",
        ("change_url", "merged_by", "merged_by_team", "proposed_by"),
    ),
    (
        "Why it exists",
        "Where it was decided and what uses it: specific enough for a reviewer a year on.",
        ("justification", "ticket_url", "artifact_ref"),
    ),
    (
        "Risk",
        "What it can reach and what could go wrong.",
        (
            "risk_tier",
            "privilege_scope",
            "data_classification",
            "interactive_login",
            "mfa_active",
            "requires_human_signoff",
        ),
    ),
    (
        "Lifetime and rotation",
        "When it ends and how often its secret changes. Dates are in UTC.",
        (
            "expires_at",
            "credential_lifetime",
            "rotation_days",
            "last_rotated_at",
            "last_used_at",
            "review_interval_days",
        ),
    ),
    (
        "Issuer",
        "When it issues short-lived credentials just in time (a Vault role, an STS role, "
        "a GitHub App): its kind and the longest lease it may grant.",
        ("issuer_kind", "max_lease_seconds"),
    ),
    (
        "Authority and control points",
        "Who approved this authority, and who owns each control point around it. "
        "Required for an owned high or critical path.",
        (
            "approved_by",
            "approved_by_team",
            "approved_at",
            "approval_ticket_url",
            "iam_team",
            "pam_team",
            "secops_team",
            "revoker_teams",
        ),
    ),
    (
        "If it must be revoked",
        "How to revoke it in an emergency, and how to roll back.",
        ("revocation_plan", "rollback_plan"),
    ),
    ("This change", "", ("change_reason",)),
)
LEFTOVER_LEGEND = "Other details"


@dataclass
class Fieldset:
    legend: str
    description: str
    fields: list[forms.BoundField] = field(default_factory=list)

    @property
    def slug(self) -> str:
        return "-".join(self.legend.lower().split())


def grouped(form: forms.BaseForm) -> list[Fieldset]:
    """The form's visible fields in FIELDSETS' groups and order (empty groups dropped)."""
    placed: set[str] = set()
    groups = []
    for legend, description, names in FIELDSETS:
        bound = [form[name] for name in names if name in form.fields]
        placed.update(names)
        if bound:
            groups.append(Fieldset(legend, description, bound))
    rest = [bf for bf in form.visible_fields() if bf.name not in placed]
    if rest:
        groups.append(Fieldset(LEFTOVER_LEGEND, "", rest))
    return groups


def describe_errors(form: forms.BaseForm) -> None:
    """Every visible field points at its help text and at its error slot, which the
    templates always render (empty until there is an error): errors written into the
    slot later, by the live check, are then read with the field."""
    for name, form_field in form.fields.items():
        if form_field.widget.is_hidden:
            continue
        auto_id = form[name].auto_id
        ids = [f"{auto_id}_helptext"] if form_field.help_text else []
        form_field.widget.attrs["aria-describedby"] = " ".join([*ids, f"{auto_id}_error"])


def show_refusal(form: forms.BaseForm, exc: ServiceError) -> None:
    """The service's refusal on the form (and never a credential sent back)."""
    apply_service_errors(form, exc)
    hide_secrets(form)


def hide_secrets(form: forms.BaseForm) -> None:
    """On a form that is shown back refused: a value that looks like a credential is
    blanked, not sent back to the browser, and its field says why, even when the form
    failed before the service could look (a value too long, a date that did not parse)."""
    values = {name: form.data.get(name, "") for name in form.fields}
    for name, messages in secret_errors(values).items():
        blank_value(form, name)
        missing = [m for m in messages if m not in form.errors.get(name, [])]
        if missing:
            form.add_error(name, missing)


class PathRegisterForm(PathEditForm):
    """`owners`: the teams this person may register for (security: every active team).
    Any active team's slug is parsed, so that a refusal is the service's (which says
    why), not a bare "not one of the choices"."""

    version = None  # type: ignore[assignment]  # a new path has no version yet
    change_reason = None  # type: ignore[assignment]  # its registration is the record
    owner_team = TeamChoiceField(
        queryset=Team.objects.filter(is_active=True),
        to_field_name="slug",
        required=False,
        label="Owning team",
        empty_label="No owner yet: it waits for a team to claim it",
        help_text="The team that needs this access and answers for it.",
    )

    def __init__(self, *args: Any, owners: Sequence[Team], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for form_field in self.fields.values():
            form_field.required = False
        owner = _field(self, "owner_team", TeamChoiceField)
        owner.widget.choices = [("", owner.empty_label), *((t.slug, t.name) for t in owners)]
        if len(owners) == 1:
            self.initial["owner_team"] = owners[0].slug
        describe_errors(self)

    def register_data(self) -> dict[str, Any]:
        """What the person filled in, as the register service takes it: blank fields are
        left out, so they take the registry's defaults (as in the API)."""
        data: dict[str, Any] = {}
        for name, value in self.cleaned_data.items():
            wanted = name in EDITABLE_FIELDS or name == "owner_team"
            if wanted and value not in (None, "", False):
                data[name] = value
        if revokers := list(self.cleaned_data.get("revoker_teams") or []):
            data["revoker_teams"] = revokers
        if pairs := getattr(self, "_identifier_pairs", None):
            data["identifiers"] = pairs
        return data

    def blank_fields(self) -> Iterable[str]:
        """The fields the person has not written anything in."""
        for name in self.fields:
            values = self.data.getlist(name) if hasattr(self.data, "getlist") else []
            if not any(str(v).strip() for v in values):
                yield name
