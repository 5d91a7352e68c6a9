"""Every state change in the registry (house rule 1). Each service is keyword-only,
atomic, takes `now`, checks who may act and writes its audit event in the same
transaction."""

from registry.services.attestations import path_attest
from registry.services.audit_values import audit_value_purge
from registry.services.change_requests import change_request_decide
from registry.services.channels import (
    team_channel_test,
    team_channel_test_queue,
    team_channel_test_run,
)
from registry.services.control_points import system_control_policy_set
from registry.services.delivery import notification_retry
from registry.services.exceptions import exception_approve, exception_reject, exception_request
from registry.services.import_queue import ImportOptions, import_queue, import_upload
from registry.services.imports import paths_import
from registry.services.incidents import (
    incident_close,
    incident_contain,
    incident_from_alert,
    incident_link_path,
    incident_open,
)
from registry.services.ownership import (
    claim_approve,
    claim_reject,
    path_claim,
    path_transfer,
    transfer_accept,
    transfer_decline,
)
from registry.services.path_retirement import path_expire, path_revoke
from registry.services.paths import path_register, path_register_or_update, path_update
from registry.services.preferences import saved_filter_archive, saved_filter_create
from registry.services.source import path_confirm_source_disabled
from registry.services.teams import (
    membership_add,
    membership_end,
    membership_set_role,
    team_create,
    team_deactivate,
    team_reactivate,
    team_update,
)
from registry.services.tokens import token_create, token_revoke
from registry.services.triage import triage_lookup

__all__ = [
    "ImportOptions",
    "audit_value_purge",
    "change_request_decide",
    "claim_approve",
    "claim_reject",
    "exception_approve",
    "exception_reject",
    "exception_request",
    "import_queue",
    "import_upload",
    "incident_close",
    "incident_contain",
    "incident_from_alert",
    "incident_link_path",
    "incident_open",
    "membership_add",
    "membership_end",
    "membership_set_role",
    "notification_retry",
    "path_attest",
    "path_claim",
    "path_confirm_source_disabled",
    "path_expire",
    "path_register",
    "path_register_or_update",
    "path_revoke",
    "path_transfer",
    "path_update",
    "paths_import",
    "saved_filter_archive",
    "saved_filter_create",
    "system_control_policy_set",
    "team_channel_test",
    "team_channel_test_queue",
    "team_channel_test_run",
    "team_create",
    "team_deactivate",
    "team_reactivate",
    "team_update",
    "token_create",
    "token_revoke",
    "transfer_accept",
    "transfer_decline",
    "triage_lookup",
]
