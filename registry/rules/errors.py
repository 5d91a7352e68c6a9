"""Errors that services raise, and the messages they carry.

Messages are constants so tests, the API and the UI assert on and show the same words.
Each error class maps to one HTTP status in the API (see `http_status`).
"""

from __future__ import annotations

from typing import Any

# Who may act
NOT_ALLOWED = "You are not allowed to do this."
NOT_A_MEMBER = "Only members of the owning team may do this."
NOT_A_MEMBER_OF_TEAM = "Only members of that team may act for it."
NOT_A_LEAD = "Only a lead of the owning team may do this."
NOT_A_SECURITY_REVIEWER = "Only a security reviewer may do this."
HUMAN_REQUIRED = "Only a person can do this; integration tokens cannot."
LEAD_SIGNOFF_REQUIRED = "This path requires a human sign-off from a lead of the owning team."
SELF_REVIEW_FORBIDDEN = (
    "You cannot decide on a request you made yourself, or through a token you issued."
)
OUTSIDER = "You are not in any team, so you cannot act on access paths."
TEAM_INACTIVE = "That team is inactive."

# Validation
REQUIRED = "This field is required."
TICKET_URL_SCHEME = "The ticket link must be an http:// or https:// URL."
TICKET_URL_INVALID = "The ticket link is not a valid URL."
JUSTIFICATION_PLACEHOLDER = (
    "Write a specific justification: what uses this access and why. "
    "Placeholders such as 'n/a', 'tbd', 'needed' or 'temp' are not accepted."
)
JUSTIFICATION_TOO_SHORT = (
    "The justification is too short: say what uses this access and why "
    "(at least {min_length} characters and {min_words} words)."
)
SEARCH_LOOKS_LIKE_SECRET = (
    "This looks like a credential ({kind}): it was not searched. Look it up by its "
    "fingerprint instead (the SHA-256 of the value, computed where the value is)."
)
LOOKS_LIKE_SECRET = (
    "This looks like a secret ({kind}). The registry stores metadata about credentials, "
    "never the credentials themselves: remove it."
)
EXPIRY_IN_PAST = "The expiry must be in the future."
EXPIRY_TOO_FAR = "The expiry may be at most {days} days ahead; longer needs a policy exception."
EXPIRY_REQUIRED = (
    "An owned path needs an expiry; 'never' requires an approved no-expiry policy exception."
)
REVIEW_INTERVAL_TOO_LONG = (
    "The review interval may not exceed {days} days, the maximum for a {tier} risk tier."
)
UNKNOWN_FIELD = "This field cannot be changed here."
UNKNOWN_FILTER = "Unknown filter: no such parameter. Known: {known}."
DUPLICATE_EXTERNAL_ID = "A path with this external id is already registered for this system."
EXCEPTION_TOO_LONG = "A policy exception may last at most {days} days."
# The four things an attestation confirms, worded once: the forms' labels and the
# message naming what is missing both read them.
ATTEST_CONFIRMATIONS = {
    "still_needed": "It is still needed",
    "justification_accurate": "The justification and ticket are accurate",
    "least_privilege": "Its scope is the least privilege the job needs",
    "no_human_use": "No person uses it interactively",
}
CONFIRMATIONS_MISSING = (
    "To {action}, also confirm: {missing}. A path that is no longer needed is revoked "
    "instead (decision: revoke)."
)
REDUCE_SCOPE_NEEDS_NOTE = "Say in the note which scope will be removed."
SAME_TEAM = "The path already belongs to that team."
WEBHOOK_SECRET_FORMAT = (
    "The event webhook secret must look like whsec_<base64 of at least 16 bytes>; "
    "leave it empty to have one generated."
)
TEAM_PARENT_CYCLE = "A team cannot be its own parent or the parent of its ancestors."
WEBHOOK_URL_PORT = "The URL's port must be a number from 1 to 65535."
TAGS_INVALID = "Tags must be a list of at most 20 lowercase slugs (letters, digits, '-' and '_')."
OWNER_DIFFERS = (
    "This path is registered with another owner; ownership moves only by claim or transfer."
)
INVALID_TOKEN = "Invalid, expired or revoked token."
TOKEN_SCOPES = "Choose one or more scopes: read, write."
TOKEN_LIFETIME = "A token must expire within 1 to {days} days."
TOKEN_REVOKED = "This token is already revoked."
SLUG_TAKEN = "A team with this slug already exists."
ALREADY_MEMBER = "This user is already a member of the team."

IDENTIFIERS_INVALID = (
    'Identifiers must be a list of {"kind": ..., "value": ...} (or kind:value lines); '
    "kinds: key_id, principal, fingerprint, client_id."
)
IDENTIFIER_KIND = (
    "Unknown identifier kind {kind!r}: use key_id, principal, fingerprint or client_id."
)
IDENTIFIER_EMPTY = "An identifier needs a value."
IDENTIFIER_TOO_LONG = "An identifier may be at most 500 characters."
IDENTIFIER_FINGERPRINT = (
    "A fingerprint is the SHA-256 of the credential as 64 hexadecimal characters "
    "(optionally prefixed sha256:)."
)
IDENTIFIER_IS_A_CREDENTIAL = (
    "This looks like a credential ({kind}), not an identifier: an identifier names a "
    "credential and is never one. Give its key id or its fingerprint (SHA-256) instead."
)
IDENTIFIER_TAKEN = "This identifier is already registered on another access path."
TOO_MANY_IDENTIFIERS = "A path may have at most {count} identifiers."
TRIAGE_NEEDS_A_VALUE = "Give an identifier or a fingerprint to look up."
APPROVER_REQUIRED = (
    "An owned high or critical path needs the person who approved its authority "
    "(approved_by) and their team (approved_by_team)."
)
APPROVED_AT_IN_FUTURE = "The approval cannot be dated in the future."
REVOKER_TEAMS_INVALID = "Revoker teams must be a list of at most 20 team slugs."
APPROVAL_WITHOUT_APPROVER = "An approval date or ticket needs the approver (approved_by)."
CONTROL_POLICY_SYSTEM = "Name the system: a short name such as aws, github or kubernetes."
CONTROL_POLICY_STALE = (
    "These control-point owners have changed since version {expected}; "
    "they are now version {actual}."
)

# Transitions
PATH_CHANGED_CONCURRENTLY = "This access path was changed by someone else; reload and retry."
STALE_VERSION = "This access path has changed since version {expected}; it is now version {actual}."
PATH_NOT_CLAIMABLE = "Only an unowned path can be claimed; this one is {state}."
CLAIM_ALREADY_PENDING = "This team already has a pending claim on this path."
CLAIM_NOT_PENDING = "This claim has already been decided ({status})."
PATH_NOT_LIVE = "This path is {state}; it can no longer be changed."
PATH_NOT_OWNED = "This path has no owning team."
TRANSFER_ALREADY_PENDING = "A transfer of this path is already waiting to be accepted."
TRANSFER_NOT_PENDING = "This transfer has already been decided ({status})."
TRANSFER_STALE = "The path is no longer owned by the team that offered it."
NOT_YET_EXPIRED = "This path's expiry has not been reached."
SOURCE_PATH_LIVE = (
    "This path is {state}: only a revoked or expired path can be confirmed disabled at the "
    "source. Revoke it first."
)
SOURCE_ALREADY_CONFIRMED = (
    "Already confirmed disabled at the source by {by} on {at:%Y-%m-%d %H:%M} UTC."
)
NOT_A_REVOKER = (
    "Only the owning, stewarding or revoking teams (or security) may confirm that this "
    "credential is disabled at the source."
)
EXCEPTION_NOT_PENDING = "This exception request has already been decided ({status})."
EXCEPTION_ALREADY_PENDING = "An exception for this rule is already waiting for a decision."
TEAM_ALREADY_INACTIVE = "This team is already inactive."
TEAM_ALREADY_ACTIVE = "This team is already active."
NOTIFICATION_NOT_DEAD = "Only a dead notification can be retried."
MEMBERSHIP_ENDED = "This membership has already ended."
AUDIT_EVENT_NOT_FOUND = "There is no audit event with this number."
AUDIT_SLOT_UNKNOWN = "This event has no value called {slot}; it has: {slots}."
AUDIT_ALREADY_PURGED = "This value has already been purged."
AUDIT_PURGE_OF_PURGE = (
    "A purge event's record of what it purged cannot itself be purged (its reason can)."
)
PURGE_NEEDS_A_PERSON = "Only a security reviewer, signed in as a person, may purge audit values."


class ServiceError(Exception):
    """A refused request. Nothing was changed."""

    http_status = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotAllowed(ServiceError):
    http_status = 403


class NotFound(ServiceError):
    http_status = 404


class InvalidTransition(ServiceError):
    """The object's current state does not allow this transition."""

    http_status = 409


class StaleVersion(ServiceError):
    http_status = 412


class Unavailable(ServiceError):
    """The deployment is missing something this needs (say what to set)."""

    http_status = 503


class PolicyRefused(ServiceError):
    """The policy refuses what the request would create (rules/enforcement.py): a rule
    whose enforcement level is `refuse` would be broken. `verdict` (a
    rules.enforcement.Verdict) says which rules, their framework ids and fixes; the API
    answers 422 with it (docs/policy-at-request-time.md)."""

    http_status = 422

    def __init__(self, verdict: Any) -> None:
        self.verdict = verdict
        refusing = [f.rule.code for f in verdict.findings if f.blocks == "refused"]
        super().__init__(POLICY_REFUSED.format(rules=", ".join(refusing)))


class Invalid(ServiceError):
    """Bad input, with messages per field."""

    http_status = 400

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        first_field, messages = next(iter(errors.items()))
        super().__init__(messages[0], field=first_field)

    @classmethod
    def single(cls, field: str, message: str) -> Invalid:
        return cls({field: [message]})


# Pages
CHANNEL_NOT_CONFIGURED = "This team has no {channel} channel set up."
CHANNEL_TEST_FAILED = "The test message was not accepted: {error}"
SAVED_FILTER_NAME_TAKEN = "You already have a saved filter with this name."
SAVED_FILTER_EMPTY = "Choose some filters first: an empty filter is the whole inventory."
SAVED_FILTER_GONE = "This saved filter has already been removed."

# Leak incidents
INCIDENT_STALE = "This incident has changed since version {expected}; it is now version {actual}."
INCIDENT_CHANGED_CONCURRENTLY = "This incident was changed by someone else; reload and retry."
INCIDENT_NOT_OPEN = "Only an open incident can be marked contained; this one is {state}."
INCIDENT_ALREADY_CLOSED = "This incident is already closed."
INCIDENT_OPEN_CLOSE_NEEDS_SECURITY = (
    "An incident that is still open can only be closed by security (a false positive, "
    "say); otherwise mark it contained first."
)
INCIDENT_ALREADY_LINKED = "This incident is already linked to an access path."
INCIDENT_DETECTION_MANUAL = (
    "A report made here is 'manual' or 'partner_report'; scanner alerts come through the intakes."
)
INCIDENT_DETECTED_IN_FUTURE = "The detection time cannot be in the future."
INCIDENT_NEEDS_A_TARGET = "Name the access path, or give the leaked credential's identifier."
INCIDENT_NOT_YOURS = (
    "Only the owning or stewarding team of the leaked credential, or security, may do this."
)
INCIDENT_SEND_A_FINGERPRINT = (
    "Never send the credential itself: send its fingerprint (SHA-256 of the value, "
    "computed where the value is)."
)
INCIDENT_SOURCE_RESERVED = "'github' alerts come only through the signed GitHub webhook."
INCIDENT_BAD_SOURCE = "A source is a short name: letters, digits, '.', '-' and '_' (at most 64)."
INCIDENT_URL = "The alert link must be an http:// or https:// URL."
WEBHOOK_SECRET_MISSING = (
    "The GitHub webhook is not configured: set NHI_GITHUB_WEBHOOK_SECRET to the secret "
    "entered in GitHub's webhook settings."
)
WEBHOOK_BAD_SIGNATURE = (
    "The X-Hub-Signature-256 header is missing or does not match the body signed with "
    "the configured secret."
)
WEBHOOK_TOO_LARGE = "The webhook body is larger than {limit} bytes."
WEBHOOK_BAD_PAYLOAD = "The body is not a GitHub secret_scanning_alert event: {why}"

TOO_MANY_PENDING = (
    "{team} already has {count} {what} waiting for security's decision; wait for those "
    "before asking for more."
)
DATE_IN_FUTURE = "Cannot be in the future: this records when it happened."
# What an invisible object answers, word for word the API's 404 (api/exceptions.py).
NOT_FOUND = "Not found."
STEWARD_NOT_YOURS = (
    "Only people of {team} (or security) can make {team} the steward of an unowned path: "
    "the steward gets its reminders until a team claims it. Ask them to set it."
)
UPLOAD_TOO_LARGE = "The file is larger than {mb} MB, the most an import takes (NHI_IMPORT_MAX_MB)."
CHANGE_NEEDS_APPROVER = "A lead of the owning team (security for a critical path) decides this."
CHANGE_ALREADY_PENDING = "A change of this path already waits for approval."
CHANGE_NOT_PENDING = "This change was already {status}."

# The human sign-off model (issue 18): rules/signoff.py, services/signoff.py
SIGNOFF_POLICY_NOT_BY_TOKEN = (
    "A token can never set or change a sign-off policy: a lead of the owning team does "
    "(security for a critical path), signed in as a person. A token may include one only "
    "when it registers the path."
)
SIGNOFF_DECISION_NOT_BY_TOKEN = (
    "A token can never decide a sign-off request: a lead of the owning team does "
    "(security for a critical path), signed in as a person."
)
SIGNOFF_CRITICAL_NEEDS_SECURITY = (
    "This path is critical: only security sets its sign-off policy and decides its "
    "sign-off requests."
)
SIGNOFF_POLICY_STALE = (
    "This sign-off policy has changed since version {expected}; it is now version {actual}."
)
SIGNOFF_SLUGS = (
    "Give a list of at most {count} short names: lowercase letters, digits, '.', ':', '-' "
    "and '_' (at most 64 characters each)."
)
SIGNOFF_SCOPES = "Give a list of at most {count} scopes, each at most 200 characters."
SIGNOFF_RECORDS = "Give a whole number from 0 to 2147483647 (or null for no limit)."
SIGNOFF_POLICY_DIFFERS = (
    "A registration of a path already registered may only repeat its sign-off policy; "
    "this one differs (or the path has none). A lead sets or changes it on the path "
    "(PUT /api/v1/access-paths/<id>/signoff-policy/)."
)
AGENT_ACTION_NOT_PENDING = "This sign-off request was already decided ({status})."
# Provenance of pipeline-made and AI-assisted access (rules/validation.provenance_missing).
PROVENANCE_REQUIRED = (
    "Required when created_via is {created_via}: access made by a pipeline or an AI agent "
    "records the change that made it, who merged it, their team and (for an agent) the "
    "tool that proposed it."
)
PROVENANCE_OWNER_REQUIRED = (
    "Access created via {created_via} is owned by a human team: name owner_team, or "
    "merged_by_team (which then owns it)."
)
CHANGE_URL_SCHEME = (
    "The change link must be an http:// or https:// URL (the pull request or commit)."
)
CHANGE_URL_INVALID = "The change link is not a valid URL."
MAX_LEASE_WITHOUT_ISSUER = (
    "A maximum lease length applies only to an issuer: set issuer_kind as well."
)
# Issuers and leases (issue 18)
LEASES_NOT_AN_ISSUER = (
    "This path is not an issuer: register the issuing role once with its issuer kind "
    "(issuer_kind) before recording leases under it."
)
LEASES_ISSUER_NOT_ACTIVE = (
    "This issuer is {state}: leases are recorded only under a live issuer that a team owns."
)
LEASES_BATCH_SIZE = "Send a list of 1 to {limit} leases per request."
LEASE_NOT_AN_OBJECT = "A lease is an object with lease_ref, subject, issued_at and ttl_seconds."
LEASE_UNKNOWN_FIELD = "Unknown lease field: a lease has lease_ref, subject, issued_at, ttl_seconds."
LEASE_TEXT = "Must be text of at most {length} characters."
LEASE_ISSUED_AT = "Must be an ISO 8601 date and time with its time zone."
LEASE_ISSUED_IN_FUTURE = "Cannot be in the future: this records when the lease was issued."
LEASE_ISSUED_TOO_LONG_AGO = (
    "Older than the {days}-day retention window: leases are recorded as they are issued."
)
LEASE_TTL = "Must be a whole number of seconds, from 1 to {limit}."
# Policy at request time (rules/enforcement.py, docs/policy-at-request-time.md)
POLICY_REFUSED = (
    "The policy refuses this path: it would break {rules}, which the policy does not "
    "allow. Nothing was saved; each violation's fix says what to change."
)
UNKNOWN_FRAMEWORK_ID = "No posture rule maps to the framework id '{value}'. Known ids: {known}."
DRY_RUN_INVALID = "dry_run is true or false."
