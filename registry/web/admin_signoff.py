"""Admin pages for the human sign-off model (registry/models/signoff.py): read-only, for
an operator checking a path's policy and what agents recorded. A lead sets a policy and
decides a request through services/signoff.py (the path page and the API)."""

from __future__ import annotations

from django.contrib import admin

from registry.models import AgentAction, SignoffPolicy
from registry.web.admin import ReadOnlyAdmin


@admin.register(SignoffPolicy)
class SignoffPolicyAdmin(ReadOnlyAdmin):
    # Read-only: a lead sets it through services.signoff (the path page and the API).
    list_display = ["path", "version", "max_records", "updated_by_label", "updated_at"]
    list_select_related = ["path"]


@admin.register(AgentAction)
class AgentActionAdmin(ReadOnlyAdmin):
    # Read-only: recorded and decided through services.signoff.
    list_display = ["id", "path", "action", "signoff", "recorded_by_label", "recorded_at"]
    list_filter = ["signoff"]
    list_select_related = ["path"]
