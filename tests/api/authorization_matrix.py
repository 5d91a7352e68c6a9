"""The REST API's authorization matrix: for every persona, every route of
`api.urls.router` (and `me/`) and every kind of object that route takes, the exact
HTTP status (checked by tests/api/test_authorization_*.py; see tests/api/authorization.py
for how each cell is run)."""

from __future__ import annotations

# List routes: 200, and the object is (LISTED) or is not (HIDDEN) among the results.
LISTED = "listed"
HIDDEN = "hidden"
L, H = LISTED, HIDDEN

# Columns of MATRIX, in order. payments_rw / payments_ro: the payments team's tokens
# (read+write, read only); expired / revoked: payments read+write tokens that no longer
# work; anonymous: no credentials at all.
PERSONAS = (
    "pat",
    "lee",
    "dana",
    "otto",
    "sam",
    "payments_rw",
    "payments_ro",
    "expired",
    "revoked",
    "anonymous",
)

# The objects each route takes. Paths: "own" is payments-owned (pat's and lee's team,
# and the payments tokens'), "other" data-owned (dana's), "unowned" stewarded by
# platform, "own_signoff" payments-owned and requiring a lead's sign-off. For create and
# register, the object is the owner team of the path in the body ("existing_*": a path
# already registered under that (system, external_id)).
PATHS = ("own", "other", "unowned")
CLAIMS = ("pending", "decided_other", "by_sam")
TRANSFERS = ("incoming", "outgoing", "accepted")
TEAMS = ("payments", "data")
EXCEPTIONS = ("own", "other", "by_sam", "decided")
AUDIT_EVENTS = ("own", "other", "unowned", "pathless")
NOTIFICATIONS = ("own", "other")
IMPORTS = ("run",)
ME = ("-",)
# Triage looks a path up by its external id: any signed-in caller gets an answer (a
# match outside their visibility answers routing only: tests/services/test_triage.py).
TRIAGE = PATHS
# Per-system control-point owners: read by anyone in a team, set by security.
CONTROL_POLICIES = ("aws",)
# Incidents of a payments path, of a data path, and of an alert that matched no path.
INCIDENTS = ("own", "other", "unmatched")
# The scanners' intake: an alert naming the payments path.
INTAKE = ("own",)
# Changes waiting for a second person: pat's on a payments path (a lead decides), dana's
# on a data path, and lee's on a critical payments path (security decides).
CHANGES = ("own", "other", "critical")
# Agents' actions waiting for sign-off (no policy: every action waits): recorded by the
# payments integration on a payments path, by the system on a data path, and by the
# payments integration on a critical payments path (security decides).
AGENT_ACTIONS = ("own", "other", "critical")

RESOURCE_OBJECTS = {
    "access-paths": PATHS,
    "claims": CLAIMS,
    "transfers": TRANSFERS,
    "teams": TEAMS,
    "exceptions": EXCEPTIONS,
    "audit-events": AUDIT_EVENTS,
    "notifications": NOTIFICATIONS,
    "imports": IMPORTS,
    "me": ME,
    "triage": TRIAGE,
    "control-policies": CONTROL_POLICIES,
    "incidents": INCIDENTS,
    "incident-intake": INTAKE,
    "change-requests": CHANGES,
    # Confirming "disabled at the source": live paths (refused) and revoked ones.
    "access-path-source-disabled": ("own", "unowned", "own_revoked", "other_revoked"),
    # A path's sign-off policy (PUT) and its agents' actions (POST).
    "access-path-signoff-policy": PATHS,
    "access-path-agent-actions": PATHS,
    "agent-actions": AGENT_ACTIONS,
    # Recording leases (POST): a path that is no issuer (refused) and two issuers.
    "access-path-leases": ("own", "own_issuer", "other_issuer"),
    # The posture rules' catalog: the same for everyone signed in.
    "posture-rules": ("-",),
}
# Routes whose objects differ from their resource's.
ROUTE_OBJECTS = {
    "access-paths:register": (*PATHS, "existing_own", "existing_other"),
    "access-paths:attest": (*PATHS, "own_signoff"),
    "exceptions:create": PATHS,
    # Reporting a leak of a path by its id, or by an identifier (the data path's).
    "incidents:create": ("own", "other", "by_identifier"),
    "incidents:close": (*INCIDENTS, "own_contained"),
}

# fmt: off
MATRIX: dict[str, dict[str, tuple]] = {
    # route: {object: (one expected status per persona, in PERSONAS order)}
    #                     pat  lee  dana otto sam  rw   ro   exp  rev  anon
    "access-paths:list": {
        "own":            (L,   L,   H,   H,   L,   L,   L,   401, 401, 401),
        "other":          (H,   H,   L,   H,   L,   H,   H,   401, 401, 401),
        "unowned":        (L,   L,   L,   H,   L,   L,   L,   401, 401, 401),
    },
    "access-paths:create": {
        "own":            (201, 201, 403, 403, 201, 201, 403, 401, 401, 401),
        "other":          (403, 403, 201, 403, 201, 403, 403, 401, 401, 401),
        "unowned":        (201, 201, 201, 403, 201, 201, 403, 401, 401, 401),
    },
    "access-paths:register": {
        "own":            (201, 201, 403, 403, 201, 201, 403, 401, 401, 401),
        "other":          (403, 403, 201, 403, 201, 403, 403, 401, 401, 401),
        "unowned":        (201, 201, 201, 403, 201, 201, 403, 401, 401, 401),
        # An existing path the caller cannot see: 404, as everywhere (no oracle).
        "existing_own":   (200, 200, 404, 404, 200, 200, 403, 401, 401, 401),
        "existing_other": (404, 404, 200, 404, 200, 404, 403, 401, 401, 401),
    },
    # The policy's verdict on a registration, nothing saved: whoever may register it.
    "access-paths:evaluate": {
        "own":            (200, 200, 403, 403, 200, 200, 403, 401, 401, 401),
        "other":          (403, 403, 200, 403, 200, 403, 403, 401, 401, 401),
        "unowned":        (200, 200, 200, 403, 200, 200, 403, 401, 401, 401),
    },
    "access-paths:retrieve": {
        "own":            (200, 200, 404, 404, 200, 200, 200, 401, 401, 401),
        "other":          (404, 404, 200, 404, 200, 404, 404, 401, 401, 401),
        "unowned":        (200, 200, 200, 404, 200, 200, 200, 401, 401, 401),
    },
    "access-paths:partial_update": {
        "own":            (200, 200, 404, 404, 200, 200, 403, 401, 401, 401),
        "other":          (404, 404, 200, 404, 200, 404, 403, 401, 401, 401),
        "unowned":        (403, 403, 403, 404, 200, 403, 403, 401, 401, 401),
    },
    "access-paths:claim": {
        "own":            (409, 409, 404, 404, 409, 409, 403, 401, 401, 401),
        "other":          (404, 404, 409, 404, 409, 404, 403, 401, 401, 401),
        "unowned":        (201, 201, 201, 404, 201, 201, 403, 401, 401, 401),
    },
    "access-paths:attest": {
        "own":            (201, 201, 404, 404, 403, 403, 403, 401, 401, 401),
        "other":          (404, 404, 201, 404, 403, 404, 403, 401, 401, 401),
        "unowned":        (403, 403, 403, 404, 403, 403, 403, 401, 401, 401),
        "own_signoff":    (403, 201, 404, 404, 403, 403, 403, 401, 401, 401),
    },
    "access-paths:transfer": {
        "own":            (403, 201, 404, 404, 201, 403, 403, 401, 401, 401),
        "other":          (404, 404, 403, 404, 201, 404, 403, 401, 401, 401),
        "unowned":        (403, 403, 403, 404, 409, 403, 403, 401, 401, 401),
    },
    "access-paths:revoke": {
        "own":            (200, 200, 404, 404, 200, 403, 403, 401, 401, 401),
        "other":          (404, 404, 200, 404, 200, 404, 403, 401, 401, 401),
        "unowned":        (403, 403, 403, 404, 200, 403, 403, 401, 401, 401),
    },
    "claims:list": {
        "pending":        (L,   L,   L,   H,   L,   L,   L,   401, 401, 401),
        "decided_other":  (H,   H,   L,   H,   L,   H,   H,   401, 401, 401),
        "by_sam":         (L,   L,   L,   H,   L,   L,   L,   401, 401, 401),
    },
    "claims:retrieve": {
        "pending":        (200, 200, 200, 404, 200, 200, 200, 401, 401, 401),
        "decided_other":  (404, 404, 200, 404, 200, 404, 404, 401, 401, 401),
        "by_sam":         (200, 200, 200, 404, 200, 200, 200, 401, 401, 401),
    },
    "claims:approve": {
        "pending":        (403, 403, 403, 404, 200, 403, 403, 401, 401, 401),
        "decided_other":  (404, 404, 403, 404, 409, 404, 403, 401, 401, 401),
        "by_sam":         (403, 403, 403, 404, 403, 403, 403, 401, 401, 401),
    },
    "claims:reject": {
        "pending":        (403, 403, 403, 404, 200, 403, 403, 401, 401, 401),
        "decided_other":  (404, 404, 403, 404, 409, 404, 403, 401, 401, 401),
        "by_sam":         (403, 403, 403, 404, 403, 403, 403, 401, 401, 401),
    },
    "transfers:list": {
        "incoming":       (L,   L,   L,   H,   L,   L,   L,   401, 401, 401),
        "outgoing":       (L,   L,   L,   H,   L,   L,   L,   401, 401, 401),
        "accepted":       (L,   L,   H,   H,   L,   L,   L,   401, 401, 401),
    },
    "transfers:retrieve": {
        "incoming":       (200, 200, 200, 404, 200, 200, 200, 401, 401, 401),
        "outgoing":       (200, 200, 200, 404, 200, 200, 200, 401, 401, 401),
        "accepted":       (200, 200, 404, 404, 200, 200, 200, 401, 401, 401),
    },
    "transfers:accept": {
        "incoming":       (200, 200, 403, 404, 403, 403, 403, 401, 401, 401),
        "outgoing":       (403, 403, 200, 404, 403, 403, 403, 401, 401, 401),
        "accepted":       (409, 409, 404, 404, 403, 403, 403, 401, 401, 401),
    },
    "transfers:decline": {
        "incoming":       (200, 200, 403, 404, 403, 403, 403, 401, 401, 401),
        "outgoing":       (403, 403, 200, 404, 403, 403, 403, 401, 401, 401),
        "accepted":       (409, 409, 404, 404, 403, 403, 403, 401, 401, 401),
    },
    "control-policies:list": {
        "aws":            (L,   L,   L,   H,   L,   L,   L,   401, 401, 401),
    },
    "control-policies:retrieve": {
        "aws":            (200, 200, 200, 404, 200, 200, 200, 401, 401, 401),
    },
    "control-policies:update": {
        "aws":            (403, 403, 403, 403, 200, 403, 403, 401, 401, 401),
    },
    "teams:list": {
        "payments":       (L,   L,   L,   L,   L,   L,   L,   401, 401, 401),
        "data":           (L,   L,   L,   L,   L,   L,   L,   401, 401, 401),
    },
    "teams:retrieve": {
        "payments":       (200, 200, 200, 200, 200, 200, 200, 401, 401, 401),
        "data":           (200, 200, 200, 200, 200, 200, 200, 401, 401, 401),
    },
    "teams:members": {
        "payments":       (200, 200, 404, 404, 200, 200, 200, 401, 401, 401),
        "data":           (404, 404, 200, 404, 200, 404, 404, 401, 401, 401),
    },
    "exceptions:list": {
        "own":            (L,   L,   H,   H,   L,   L,   L,   401, 401, 401),
        "other":          (H,   H,   L,   H,   L,   H,   H,   401, 401, 401),
        "by_sam":         (L,   L,   H,   H,   L,   L,   L,   401, 401, 401),
        "decided":        (L,   L,   H,   H,   L,   L,   L,   401, 401, 401),
    },
    "exceptions:create": {
        "own":            (201, 201, 404, 404, 201, 403, 403, 401, 401, 401),
        "other":          (404, 404, 201, 404, 201, 404, 403, 401, 401, 401),
        "unowned":        (403, 403, 403, 404, 201, 403, 403, 401, 401, 401),
    },
    "exceptions:retrieve": {
        "own":            (200, 200, 404, 404, 200, 200, 200, 401, 401, 401),
        "other":          (404, 404, 200, 404, 200, 404, 404, 401, 401, 401),
        "by_sam":         (200, 200, 404, 404, 200, 200, 200, 401, 401, 401),
        "decided":        (200, 200, 404, 404, 200, 200, 200, 401, 401, 401),
    },
    "exceptions:approve": {
        "own":            (403, 403, 404, 404, 200, 403, 403, 401, 401, 401),
        "other":          (404, 404, 403, 404, 200, 404, 403, 401, 401, 401),
        "by_sam":         (403, 403, 404, 404, 403, 403, 403, 401, 401, 401),
        "decided":        (403, 403, 404, 404, 409, 403, 403, 401, 401, 401),
    },
    "exceptions:reject": {
        "own":            (403, 403, 404, 404, 200, 403, 403, 401, 401, 401),
        "other":          (404, 404, 403, 404, 200, 404, 403, 401, 401, 401),
        "by_sam":         (403, 403, 404, 404, 403, 403, 403, 401, 401, 401),
        "decided":        (403, 403, 404, 404, 409, 403, 403, 401, 401, 401),
    },
    "audit-events:list": {
        "own":            (L,   L,   H,   H,   L,   L,   L,   401, 401, 401),
        "other":          (H,   H,   L,   H,   L,   H,   H,   401, 401, 401),
        "unowned":        (L,   L,   L,   H,   L,   L,   L,   401, 401, 401),
        "pathless":       (H,   H,   H,   H,   L,   H,   H,   401, 401, 401),
    },
    "audit-events:retrieve": {
        "own":            (200, 200, 404, 404, 200, 200, 200, 401, 401, 401),
        "other":          (404, 404, 200, 404, 200, 404, 404, 401, 401, 401),
        "unowned":        (200, 200, 200, 404, 200, 200, 200, 401, 401, 401),
        "pathless":       (404, 404, 404, 404, 200, 404, 404, 401, 401, 401),
    },
    # Purging a value from the audit trail: security reviewers, by name.
    "audit-events:purge": {
        "own":            (403, 403, 404, 404, 201, 403, 403, 401, 401, 401),
        "other":          (404, 404, 403, 404, 201, 404, 403, 401, 401, 401),
        "unowned":        (403, 403, 403, 404, 201, 403, 403, 401, 401, 401),
        "pathless":       (404, 404, 404, 404, 201, 404, 403, 401, 401, 401),
    },
    "notifications:list": {
        "own":            (L,   L,   H,   H,   L,   L,   L,   401, 401, 401),
        "other":          (H,   H,   L,   H,   L,   H,   H,   401, 401, 401),
    },
    "notifications:retrieve": {
        "own":            (200, 200, 404, 404, 200, 200, 200, 401, 401, 401),
        "other":          (404, 404, 200, 404, 200, 404, 404, 401, 401, 401),
    },
    "imports:list": {
        "run":            (H,   H,   H,   H,   L,   H,   H,   401, 401, 401),
    },
    "imports:retrieve": {
        "run":            (404, 404, 404, 404, 200, 404, 404, 401, 401, 401),
    },
    # Bulk imports write across teams: security only (a team token neither).
    "imports:create": {
        "run":            (403, 403, 403, 403, 202, 403, 403, 401, 401, 401),
    },
    "me": {
        "-":              (200, 200, 200, 200, 200, 200, 200, 401, 401, 401),
    },
    "posture-rules": {
        "-":              (200, 200, 200, 200, 200, 200, 200, 401, 401, 401),
    },
    # The owning, stewarding and revoking teams (their tokens too) and security confirm
    # a revoked path; a live one is 409, a path out of sight 404.
    "access-path-source-disabled": {
        "own":            (409, 409, 404, 404, 409, 409, 403, 401, 401, 401),
        "unowned":        (403, 403, 403, 404, 409, 403, 403, 401, 401, 401),
        "own_revoked":    (200, 200, 404, 404, 200, 200, 403, 401, 401, 401),
        "other_revoked":  (404, 404, 200, 404, 200, 404, 403, 401, 401, 401),
    },
    # Leases are recorded by the issuer's owning and stewarding teams (people and
    # tokens); anyone else, security included, finds no such path (404). A path that is
    # not an issuer is 409.
    "access-path-leases": {
        "own":            (409, 409, 404, 404, 404, 409, 403, 401, 401, 401),
        "own_issuer":     (201, 201, 404, 404, 404, 201, 403, 401, 401, 401),
        "other_issuer":   (404, 404, 201, 404, 404, 404, 403, 401, 401, 401),
    },
    # A lookup is a read sent as a POST: a read-only token may look up.
    "triage": {
        "own":            (200, 200, 200, 200, 200, 200, 200, 401, 401, 401),
        "other":          (200, 200, 200, 200, 200, 200, 200, 401, 401, 401),
        "unowned":        (200, 200, 200, 200, 200, 200, 200, 401, 401, 401),
    },
    # Leak incidents: seen with their path; contained by its teams (an integration too),
    # closed while open only by security, linked only by security.
    "incidents:list": {
        "own":            (L,   L,   H,   H,   L,   L,   L,   401, 401, 401),
        "other":          (H,   H,   L,   H,   L,   H,   H,   401, 401, 401),
        "unmatched":      (H,   H,   H,   H,   L,   H,   H,   401, 401, 401),
    },
    "incidents:retrieve": {
        "own":            (200, 200, 404, 404, 200, 200, 200, 401, 401, 401),
        "other":          (404, 404, 200, 404, 200, 404, 404, 401, 401, 401),
        "unmatched":      (404, 404, 404, 404, 200, 404, 404, 401, 401, 401),
    },
    "incidents:create": {
        "own":            (201, 201, 404, 404, 201, 201, 403, 401, 401, 401),
        "other":          (404, 404, 201, 404, 201, 404, 403, 401, 401, 401),
        "by_identifier":  (201, 201, 201, 201, 201, 201, 403, 401, 401, 401),
    },
    "incidents:contain": {
        "own":            (200, 200, 404, 404, 200, 200, 403, 401, 401, 401),
        "other":          (404, 404, 200, 404, 200, 404, 403, 401, 401, 401),
        "unmatched":      (404, 404, 404, 404, 200, 404, 403, 401, 401, 401),
    },
    "incidents:close": {
        "own":            (403, 403, 404, 404, 200, 403, 403, 401, 401, 401),
        "other":          (404, 404, 403, 404, 200, 404, 403, 401, 401, 401),
        "unmatched":      (404, 404, 404, 404, 200, 404, 403, 401, 401, 401),
        "own_contained":  (200, 200, 404, 404, 200, 403, 403, 401, 401, 401),
    },
    "incidents:link": {
        "own":            (403, 403, 404, 404, 409, 403, 403, 401, 401, 401),
        "other":          (404, 404, 403, 404, 409, 404, 403, 401, 401, 401),
        "unmatched":      (404, 404, 404, 404, 200, 404, 403, 401, 401, 401),
    },
    # Scanners post alerts with a write token; a person's session is not a scanner.
    "incident-intake": {
        "own":            (403, 403, 403, 403, 403, 201, 403, 401, 401, 401),
    },
    # Waiting changes: seen with their path; decided by a person who did not ask: a lead
    # of the owning team, or security (alone for a critical path).
    "change-requests:list": {
        "own":            (L,   L,   H,   H,   L,   L,   L,   401, 401, 401),
        "other":          (H,   H,   L,   H,   L,   H,   H,   401, 401, 401),
        "critical":       (L,   L,   H,   H,   L,   L,   L,   401, 401, 401),
    },
    "change-requests:retrieve": {
        "own":            (200, 200, 404, 404, 200, 200, 200, 401, 401, 401),
        "other":          (404, 404, 200, 404, 200, 404, 404, 401, 401, 401),
        "critical":       (200, 200, 404, 404, 200, 200, 200, 401, 401, 401),
    },
    "change-requests:approve": {
        "own":            (403, 200, 404, 404, 200, 403, 403, 401, 401, 401),
        "other":          (404, 404, 403, 404, 200, 404, 403, 401, 401, 401),
        "critical":       (403, 403, 404, 404, 200, 403, 403, 401, 401, 401),
    },
    "change-requests:reject": {
        "own":            (403, 200, 404, 404, 200, 403, 403, 401, 401, 401),
        "other":          (404, 404, 403, 404, 200, 404, 403, 401, 401, 401),
        "critical":       (403, 403, 404, 404, 200, 403, 403, 401, 401, 401),
    },
    # A sign-off policy is set by a lead of the owning team, signed in, or security;
    # never by a token (403 naming the rule), and an unowned path has no lead.
    "access-path-signoff-policy": {
        "own":            (403, 200, 404, 404, 200, 403, 403, 401, 401, 401),
        "other":          (404, 404, 403, 404, 200, 404, 403, 401, 401, 401),
        "unowned":        (403, 403, 403, 404, 200, 403, 403, 401, 401, 401),
    },
    # Agents record actions with the owning team's credential: its people and tokens.
    "access-path-agent-actions": {
        "own":            (201, 201, 404, 404, 403, 201, 403, 401, 401, 401),
        "other":          (404, 404, 201, 404, 403, 404, 403, 401, 401, 401),
        "unowned":        (403, 403, 403, 404, 403, 403, 403, 401, 401, 401),
    },
    "agent-actions:retrieve": {
        "own":            (200, 200, 404, 404, 200, 200, 200, 401, 401, 401),
        "other":          (404, 404, 200, 404, 200, 404, 404, 401, 401, 401),
        "critical":       (200, 200, 404, 404, 200, 200, 200, 401, 401, 401),
    },
    # Decided by a person: a lead of the owning team, security (alone when critical).
    "agent-actions:decide": {
        "own":            (403, 200, 404, 404, 200, 403, 403, 401, 401, 401),
        "other":          (404, 404, 403, 404, 200, 404, 403, 401, 401, 401),
        "critical":       (403, 403, 404, 404, 200, 403, 403, 401, 401, 401),
    },
}
# fmt: on

CELLS = [
    (persona, route, obj, expected)
    for route, row_by_object in MATRIX.items()
    for obj, row in row_by_object.items()
    for persona, expected in zip(PERSONAS, row, strict=True)
]


# The matrix is checked by resource, one module per group
# (tests/api/test_authorization_<group>.py); every resource is in exactly one group.
GROUPS = {
    "paths": (
        "access-paths",
        "access-path-source-disabled",
        "access-path-signoff-policy",
        "access-path-agent-actions",
        "access-path-leases",
    ),
    "requests": ("claims", "transfers", "exceptions", "change-requests", "agent-actions"),
    "others": (
        "teams",
        "me",
        "audit-events",
        "notifications",
        "imports",
        "triage",
        "control-policies",
        "incidents",
        "incident-intake",
        "posture-rules",
    ),
}


def cells(group: str) -> list[tuple]:
    """The cells of one group's resources, as (persona, route, object, expected)."""
    return [cell for cell in CELLS if cell[1].partition(":")[0] in GROUPS[group]]


def cell_ids(selected: list[tuple]) -> list[str]:
    return [f"{persona}-{route}-{obj}" for persona, route, obj, _ in selected]
