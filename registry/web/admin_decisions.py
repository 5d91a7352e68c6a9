"""Admin pages for the decisions on a path that wait for a second person: claims,
transfers and policy exceptions. Read-only records; their actions call the same
services as the pages and the API (services/ownership.py, services/exceptions.py),
so the admin refuses what they refuse."""

from __future__ import annotations

from django.contrib import admin

from registry import services
from registry.models import Claim, PolicyException, Transfer
from registry.web.admin import ReadOnlyAdmin, with_reason, without_reason


@admin.register(Claim)
class ClaimAdmin(ReadOnlyAdmin):
    list_display = ("path", "team", "status", "requested_by_label", "created_at", "decided_at")
    list_filter = ("status",)
    list_select_related = ("path", "team")
    actions = [
        without_reason(
            "Approve",
            lambda actor, claim: services.claim_approve(actor=actor, claim=claim),
            "Approved",
        ),
        with_reason(
            "Reject",
            lambda actor, claim, reason: services.claim_reject(
                actor=actor, claim=claim, reason=reason
            ),
            "Rejected",
        ),
    ]


@admin.register(Transfer)
class TransferAdmin(ReadOnlyAdmin):
    list_display = ("path", "from_team", "to_team", "status", "created_at", "decided_at")
    list_filter = ("status",)
    list_select_related = ("path", "from_team", "to_team")
    actions = [
        without_reason(
            "Accept",
            lambda actor, transfer: services.transfer_accept(actor=actor, transfer=transfer),
            "Accepted",
        ),
        with_reason(
            "Decline",
            lambda actor, transfer, reason: services.transfer_decline(
                actor=actor, transfer=transfer, reason=reason
            ),
            "Declined",
        ),
    ]


@admin.register(PolicyException)
class PolicyExceptionAdmin(ReadOnlyAdmin):
    list_display = ("path", "rule", "status", "expires_at", "created_at", "decided_at")
    list_filter = ("status", "rule")
    list_select_related = ("path",)
    actions = [
        without_reason(
            "Approve",
            lambda actor, exc: services.exception_approve(actor=actor, exception=exc),
            "Approved",
        ),
        with_reason(
            "Reject",
            lambda actor, exc, reason: services.exception_reject(
                actor=actor, exception=exc, reason=reason
            ),
            "Rejected",
        ),
    ]
