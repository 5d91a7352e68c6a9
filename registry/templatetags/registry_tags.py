"""Small presentation helpers for the registry's templates."""

from __future__ import annotations

from django import template

from registry.rules.status import Status

register = template.Library()
_STATUS_LABELS = dict(Status.choices)


@register.filter
def status_label(value: str) -> str:
    return _STATUS_LABELS.get(value, value)


@register.filter
def get(mapping, key):
    return mapping.get(key) if mapping else None


@register.filter
def event_title(action: str) -> str:
    """An audit action in words: "access_path.attested" -> "Attested",
    "claim.approved" -> "Claim approved"."""
    subject, _, verb = action.partition(".")
    verb = verb.replace("_", " ")
    if subject == "access_path":
        return verb.capitalize()
    return f"{subject.replace('_', ' ')} {verb}".capitalize()
