"""Admin pages for identity: people's provider identities, the memberships the provider
manages, CI trust rules, and SCIM's tokens, users and groups. Read-only: rules are made
and retired by security through `manage.py ci_trust_rule` (registry/services/ci_trust.py),
SCIM tokens through `manage.py create_scim_token` / `revoke_scim_token`
(registry/services/scim.py), so each change is audited and registers or revokes its
access path. A token's hash is never shown."""

from __future__ import annotations

from django.contrib import admin

from registry.models import (
    CiTrustRule,
    ExternalIdentity,
    ProviderMembership,
    ScimGroup,
    ScimToken,
    ScimUser,
)
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


@admin.register(ScimToken)
class ScimTokenAdmin(ReadOnlyAdmin):
    list_display = ["name", "prefix", "created_at", "expires_at", "last_used_at", "revoked_at"]
    fields = ["name", "prefix", "created_at", "expires_at", "last_used_at", "revoked_at",
              "created_by_label", "access_path"]  # fmt: skip


@admin.register(ScimUser)
class ScimUserAdmin(ReadOnlyAdmin):
    list_display = ["user", "external_id", "updated_at", "deleted_at"]
    search_fields = ["user__username", "external_id"]


@admin.register(ScimGroup)
class ScimGroupAdmin(ReadOnlyAdmin):
    list_display = ["team", "external_id", "deactivated_by_scim", "updated_at", "deleted_at"]
    search_fields = ["team__slug", "external_id"]
