"""The path page's panel of a change waiting for a second person
(registry/web/views/change_requests.py), for templates/registry/_path_change.html."""

from __future__ import annotations

from django import template

from registry.models import AccessPath
from registry.web.views._common import actor_for
from registry.web.views.change_requests import ChangePanel, change_panel

register = template.Library()


@register.simple_tag(takes_context=True)
def change_panel_for(context, path: AccessPath) -> ChangePanel:
    return change_panel(actor_for(context["request"]), path)
