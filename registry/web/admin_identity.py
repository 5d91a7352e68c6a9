"""Admin pages for identity: people's provider identities, the memberships the provider
manages, and CI trust rules. Read-only: rules are made and retired by security through
`manage.py ci_trust_rule` (registry/services/ci_trust.py), so each change is audited and
registers or revokes its access path."""

from __future__ import annotations

from django.contrib import admin

from registry.models import CiTrustRule, ExternalIdentity, ProviderMembership
from registry.web.admin import ReadOnlyAdmin


@admin.register(ExternalIdentity)
class ExternalIdentityAdmin(ReadOnlyAdmin):
    list_display = ["user", "issuer", "subject", "created_at", "last_sign_in_at"]
    search_fields = ["user__username", "subject"]


@admin.register(ProviderMembership)
class ProviderMembershipAdmin(ReadOnlyAdmin):
    list_display = ["membership", "issuer", "created_at"]


@admin.register(CiTrustRule)
class CiTrustRuleAdmin(ReadOnlyAdmin):
    list_display = ["name", "team", "issuer", "conditions", "created_at", "created_by_label",
                    "retired_at"]  # fmt: skip
    list_filter = ["team", "issuer"]
