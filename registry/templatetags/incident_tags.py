"""The path page's incidents section (templates/registry/_path_incidents.html) reads
them through the selector, so the path view itself stays unaware of incidents."""

from __future__ import annotations

from django import template

from registry.models import AccessPath, Incident
from registry.selectors.incidents import path_incidents

register = template.Library()


@register.simple_tag
def incidents_of(path: AccessPath) -> list[Incident]:
    return path_incidents(path=path)
