"""Small presentation helpers for the registry's templates."""

from __future__ import annotations

from django import template

from registry.status import Status

register = template.Library()
_STATUS_LABELS = dict(Status.choices)


@register.filter
def status_label(value: str) -> str:
    return _STATUS_LABELS.get(value, value)


@register.filter
def get(mapping, key):
    return mapping.get(key) if mapping else None
