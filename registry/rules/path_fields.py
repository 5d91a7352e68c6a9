"""Which of an access path's fields a caller may set: one list for the services, the
edit page's form, the API's serializers, the admin and the registry's import format."""

from __future__ import annotations

# What a caller may set, in the order the edit page shows them. Ownership moves only by
# claim or transfer, and lifecycle fields (state, review dates, escalation, version)
# only by the services that own them.
EDITABLE_FIELD_ORDER = (
    "name", "kind", "system", "external_id", "environment", "steward_team",
    "created_via", "created_by_ref", "consumers", "ticket_url", "artifact_ref",
    "justification", "privilege_scope", "risk_tier", "data_classification",
    "credential_lifetime", "rotation_days", "last_rotated_at", "last_used_at",
    "requires_human_signoff", "revocation_plan", "rollback_plan", "expires_at",
    "review_interval_days",
    "interactive_login", "mfa_active", "approved_by", "approved_by_team", "approved_at",
    "approval_ticket_url", "iam_team", "pam_team", "secops_team",
    "change_url", "merged_by", "merged_by_team", "proposed_by",
    "issuer_kind", "max_lease_seconds", "mfa_active",
)  # fmt: skip
EDITABLE_FIELDS = frozenset(EDITABLE_FIELD_ORDER)
# Teams named by a path's authority (registry.rules.control_points) and its provenance
# (the merging team, which owns pipeline-made and AI-assisted access): an inactive team
# cannot take on a new responsibility. Each is written and read as a team slug.
AUTHORITY_TEAM_FIELDS = (
    "approved_by_team",
    "iam_team",
    "pam_team",
    "secops_team",
    "merged_by_team",
)
# Facts a source reports (an import, an integration through the API): not offered on the
# edit page, where a person would only be guessing.
REPORTED_FIELDS = frozenset({"mfa_active"})
