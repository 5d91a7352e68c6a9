"""The registry's records. Rows are never deleted; every change goes through services.

Models state their own rules (named constraints, partial indexes with the query that
needs them); services enforce who may change what and write the audit event. One
module per part of the domain; everything is importable from `registry.models`.
"""

from registry.models.accounts import ApiToken, SavedFilter
from registry.models.audit import AuditChainHead, AuditEvent
from registry.models.control import SystemControlPolicy
from registry.models.identity import CiTrustRule, ExternalIdentity, ProviderMembership
from registry.models.imports import CredentialIdentifier, ImportRun
from registry.models.incidents import Incident
from registry.models.leases import Lease, LeaseHour
from registry.models.notifications import Notification
from registry.models.operations import ExportRun, FileChunk, JobTick, StoredFile
from registry.models.paths import AccessPath, Tag
from registry.models.requests import (
    Attestation,
    ChangeRequest,
    Claim,
    PolicyException,
    Transfer,
)
from registry.models.scim import ScimGroup, ScimToken, ScimUser
from registry.models.signoff import AgentAction, SignoffPolicy
from registry.models.tallies import PathFacts, PathTally, TallyVersion
from registry.models.teams import Membership, Team

__all__ = [
    "AccessPath",
    "AgentAction",
    "ApiToken",
    "Attestation",
    "AuditChainHead",
    "AuditEvent",
    "ChangeRequest",
    "CiTrustRule",
    "Claim",
    "CredentialIdentifier",
    "ExportRun",
    "ExternalIdentity",
    "FileChunk",
    "ImportRun",
    "Incident",
    "JobTick",
    "Lease",
    "LeaseHour",
    "Membership",
    "Notification",
    "PathFacts",
    "PathTally",
    "PolicyException",
    "ProviderMembership",
    "SavedFilter",
    "ScimGroup",
    "ScimToken",
    "ScimUser",
    "SignoffPolicy",
    "StoredFile",
    "SystemControlPolicy",
    "Tag",
    "TallyVersion",
    "Team",
    "Transfer",
]
