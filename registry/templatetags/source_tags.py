"""The path page's source panel (registry/web/views/source.py), for the partial
templates/registry/_path_source.html."""

from __future__ import annotations

from django import template

from registry.models import AccessPath
from registry.web.views._common import actor_for, request_now
from registry.web.views.source import SourcePanel, source_panel

register = template.Library()


@register.simple_tag(takes_context=True)
def source_panel_for(context, path: AccessPath) -> SourcePanel:
    request = context["request"]
    return source_panel(actor_for(request), path, request_now(request))
