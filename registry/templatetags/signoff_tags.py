"""The path page's "Sign-off" card (registry/web/views/signoff.py), for
templates/registry/_signoff.html."""

from __future__ import annotations

from django import template

from registry.models import AccessPath
from registry.web.views._common import actor_for
from registry.web.views.signoff import SignoffPanel, signoff_panel

register = template.Library()

# An action's sign-off state as the status badges show it (static/css/app.css).
BADGES = {
    "not_needed": "status-active",
    "pending": "status-review_due",
    "approved": "status-active",
    "rejected": "status-lapsed",
}


@register.simple_tag(takes_context=True)
def signoff_panel_for(context, path: AccessPath) -> SignoffPanel:
    bound = context.get("forms", {}).get("signoff")
    return signoff_panel(actor_for(context["request"]), path, bound)


@register.filter
def signoff_badge(state: str) -> str:
    return BADGES.get(state, "status-expired")
