"""Who may do what to which object.

Each function returns the refusal message, or None when the actor may act. Services
raise on a refusal; pages and the API use the same functions to offer only the actions
a user may take, so what is shown and what is allowed cannot drift apart.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from registry.models import (
    AccessPath,
    ApiToken,
    ChangeRequest,
    Claim,
    PolicyException,
    SavedFilter,
    Team,
    Transfer,
)
from registry.rules import errors
from registry.rules.actors import Actor
from registry.rules.policies import Policy


def _owning_or_stewarding_team(path: AccessPath) -> int | None:
    return path.owner_team_id if path.owner_team_id else path.steward_team_id


def refuse_register(actor: Actor, owner_team: Team | None) -> str | None:
    if actor.is_system or actor.is_security_reviewer:
        return None
    if not actor.team_ids:
        return errors.OUTSIDER
    if owner_team is not None and not actor.member_of(owner_team.pk):
        return errors.NOT_A_MEMBER_OF_TEAM
    return None


def refuse_steward(actor: Actor, steward_team: Team, *, owned: bool) -> str | None:
    """The steward of an unowned path gets its reminders and escalations until a team
    claims it: only that team (its people or its integration) takes that on, or
    security (imports, reassignments) assigns it. An owner naming the platform that
    runs its mechanism as steward hands it nothing to answer for."""
    if owned or actor.is_system or actor.is_security_reviewer:
        return None
    if actor.member_of(steward_team.pk):
        return None
    return errors.STEWARD_NOT_YOURS.format(team=steward_team.name)


def refuse_update(actor: Actor, path: AccessPath) -> str | None:
    """Owners (people or their team's integration) edit owned paths; the steward edits
    unowned ones; security and the system edit anything."""
    if actor.is_system or actor.is_security_reviewer:
        return None
    if not actor.team_ids:
        return errors.OUTSIDER
    if actor.member_of(_owning_or_stewarding_team(path)):
        return None
    return errors.NOT_A_MEMBER


def refuse_lift_signoff(actor: Actor, path: AccessPath) -> str | None:
    """Only a lead (or security) may drop the requirement that a lead signs off."""
    if actor.is_system or actor.is_security_reviewer:
        return None
    if not actor.is_person:
        return errors.HUMAN_REQUIRED
    if not actor.lead_of(path.owner_team_id):
        return errors.NOT_A_LEAD
    return None


def refuse_revoke(actor: Actor, path: AccessPath) -> str | None:
    """The owning (or stewarding) team, and the teams named as the path's revokers."""
    if actor.is_system or actor.is_security_reviewer:
        return None
    if actor.is_integration:
        return errors.HUMAN_REQUIRED
    if not actor.team_ids:
        return errors.OUTSIDER
    if actor.member_of(_owning_or_stewarding_team(path)):
        return None
    # From a prefetch when the caller made one, else one query (only for non-members).
    if any(actor.member_of(team.pk) for team in path.revoker_teams.all()):
        return None
    return errors.NOT_A_MEMBER


def refuse_confirm_source_disabled(
    actor: Actor, path: AccessPath, revoker_team_ids: Iterable[int] = ()
) -> str | None:
    """Recording that a credential is disabled where it lives: the teams that answer for
    it or may revoke it (their people or their integrations), security and the system."""
    if actor.is_system or actor.is_security_reviewer:
        return None
    if not actor.team_ids:
        return errors.OUTSIDER
    teams = {path.owner_team_id, path.steward_team_id, *revoker_team_ids} - {None}
    if actor.team_ids & teams:
        return None
    return errors.NOT_A_REVOKER


def refuse_record_leases(actor: Actor, issuer: AccessPath) -> str | None:
    """Recording an issuer's leases: the teams that run it, its owner and its steward
    (their people and their integration tokens: the pipelines that issue), and the
    system. Nobody else, security included: a lease is the issuing team's telemetry, and
    a refusal here answers as an invisible path would (404)."""
    if actor.is_system:
        return None
    if actor.member_of(issuer.owner_team_id) or actor.member_of(issuer.steward_team_id):
        return None
    return errors.NOT_FOUND


def refuse_expire(actor: Actor) -> str | None:
    if actor.is_system or actor.is_security_reviewer:
        return None
    return errors.NOT_A_SECURITY_REVIEWER


def refuse_claim(actor: Actor, team: Team) -> str | None:
    if actor.is_system:
        return None
    if not actor.team_ids:
        return errors.OUTSIDER
    if not actor.member_of(team.pk):
        return errors.NOT_A_MEMBER_OF_TEAM
    return None


def refuse_review(actor: Actor, *requesters: int | None) -> str | None:
    """Deciding claims and exceptions: a security reviewer (a person; tokens never
    review), never on a request they made themselves or through a token they issued."""
    if not actor.is_security_reviewer or actor.user is None:
        return errors.NOT_A_SECURITY_REVIEWER
    if actor.user.pk in requesters:
        return errors.SELF_REVIEW_FORBIDDEN
    return None


def refuse_audit_purge(actor: Actor) -> str | None:
    """Erasing a value from the audit trail is a security reviewer's act, signed in by
    name: not a token, not even their own."""
    if not actor.is_person or actor.token_id or not actor.is_security_reviewer:
        return errors.PURGE_NEEDS_A_PERSON
    return None


def refuse_claim_decision(actor: Actor, claim: Claim) -> str | None:
    return refuse_review(actor, claim.requested_by_id, claim.requested_through_token_of_id)


def refuse_transfer(actor: Actor, path: AccessPath) -> str | None:
    """Handing over accountability is a lead's decision (or security's)."""
    if actor.is_system or actor.is_security_reviewer:
        return None
    if actor.is_integration:
        return errors.HUMAN_REQUIRED
    if not actor.team_ids:
        return errors.OUTSIDER
    if not actor.lead_of(path.owner_team_id):
        return errors.NOT_A_LEAD
    return None


def refuse_transfer_answer(actor: Actor, transfer: Transfer) -> str | None:
    """Only people of the receiving team accept (or decline) accountability."""
    if actor.is_integration or actor.is_system:
        return errors.HUMAN_REQUIRED
    if not actor.team_ids:
        return errors.OUTSIDER
    if not actor.member_of(transfer.to_team_id):
        return errors.NOT_A_MEMBER_OF_TEAM
    return None


def refuse_attest(actor: Actor, path: AccessPath) -> str | None:
    if not actor.is_person:
        return errors.HUMAN_REQUIRED
    if not actor.team_ids:
        return errors.OUTSIDER
    if not actor.member_of(path.owner_team_id):
        return errors.NOT_A_MEMBER
    if path.requires_human_signoff and not actor.lead_of(path.owner_team_id):
        return errors.LEAD_SIGNOFF_REQUIRED
    return None


def refuse_exception_request(actor: Actor, path: AccessPath) -> str | None:
    if actor.is_security_reviewer:
        return None
    if not actor.is_person:
        return errors.HUMAN_REQUIRED
    if not actor.team_ids:
        return errors.OUTSIDER
    if not actor.member_of(_owning_or_stewarding_team(path)):
        return errors.NOT_A_MEMBER
    return None


def refuse_exception_decision(actor: Actor, exception: PolicyException) -> str | None:
    return refuse_review(actor, exception.requested_by_id)


def refuse_import(actor: Actor) -> str | None:
    """Bulk imports write across teams: security (people or the system) runs them."""
    if actor.is_system or actor.is_security_reviewer:
        return None
    return errors.NOT_A_SECURITY_REVIEWER


def refuse_control_policy(actor: Actor) -> str | None:
    """Setting a system's default control-point owners: security (or the system)."""
    if actor.is_system or actor.is_security_reviewer:
        return None
    return errors.NOT_A_SECURITY_REVIEWER


def may_read_control_policies(actor: Actor) -> bool:
    """Anyone in a team sees the per-system defaults (they show on every path page)."""
    return actor.sees_everything or bool(actor.team_ids)


def may_see_team_contacts(actor: Actor) -> bool:
    """Teams' contact addresses in the directory: anyone in a team (who may need to
    route something to another), integrations and security; someone in no team learns
    the directory's names only."""
    return actor.sees_everything or actor.is_integration or bool(actor.team_ids)


def may_read_team(actor: Actor, team: Team) -> bool:
    """A team's own pages (members, coming reminders): its members and security."""
    return actor.sees_everything or actor.member_of(team.pk)


def refuse_team_admin(actor: Actor) -> str | None:
    """Creating, deactivating and reactivating teams."""
    if actor.is_system or actor.is_security_reviewer:
        return None
    return errors.NOT_A_SECURITY_REVIEWER


def refuse_team_manage(actor: Actor, team: Team) -> str | None:
    """Editing a team's details and its memberships: its leads, security, the system."""
    if actor.is_system or actor.is_security_reviewer:
        return None
    if actor.is_integration:
        return errors.HUMAN_REQUIRED
    if not actor.lead_of(team.pk):
        return errors.NOT_A_LEAD
    return None


def _answers_for_incident(actor: Actor, path: AccessPath | None) -> bool:
    """The teams that answer for a leaked credential: its owner and its steward."""
    if path is None:
        return False
    return actor.member_of(path.owner_team_id) or actor.member_of(path.steward_team_id)


def refuse_incident_contain(actor: Actor, path: AccessPath | None) -> str | None:
    """Marking a leak contained (disabled at the source): the owning or stewarding team
    (their people, or the integration that revoked it), security and the system. An
    incident that names no path is security's until it is linked."""
    if actor.is_system or actor.is_security_reviewer:
        return None
    if not actor.team_ids:
        return errors.OUTSIDER
    if _answers_for_incident(actor, path):
        return None
    return errors.INCIDENT_NOT_YOURS


def refuse_incident_close(actor: Actor, path: AccessPath | None, *, still_open: bool) -> str | None:
    """Closing is a person's judgement: the owning or stewarding team once contained;
    an incident still open only by security (a false positive)."""
    if actor.is_system or actor.is_security_reviewer:
        return None
    if not actor.is_person:
        return errors.HUMAN_REQUIRED
    if not actor.team_ids:
        return errors.OUTSIDER
    if still_open:
        return errors.INCIDENT_OPEN_CLOSE_NEEDS_SECURITY
    if _answers_for_incident(actor, path):
        return None
    return errors.INCIDENT_NOT_YOURS


def refuse_incident_link(actor: Actor) -> str | None:
    """Naming the path of an alert that matched none: security sees every path."""
    if actor.is_system or actor.is_security_reviewer:
        return None
    return errors.NOT_A_SECURITY_REVIEWER


# --- changes that need a second person ------------------------------------------------

RISK_ORDER = ("low", "medium", "high", "critical")


def held_fields(path: AccessPath, values: dict, *, now: dt.datetime, policy: Policy) -> list[str]:
    """Which of `values` (field -> new value) relax a path's guard rails: a lower risk
    tier, an expiry past the policy's window for its tier (and later than today's), or
    lifting lead sign-off."""
    held = []
    tier = values.get("risk_tier", path.risk_tier)
    if "risk_tier" in values and RISK_ORDER.index(tier) < RISK_ORDER.index(path.risk_tier):
        held.append("risk_tier")
    expires = values.get("expires_at")
    later = expires is not None and (path.expires_at is None or expires > path.expires_at)
    if later and expires is not None and expires > now + policy.default_expiry_for(tier):
        held.append("expires_at")
    if values.get("requires_human_signoff") is False and path.requires_human_signoff:
        held.append("requires_human_signoff")
    return held


def change_needs_approval(actor: Actor, path: AccessPath) -> str | None:
    """Who must approve a guard-rail-relaxing change by `actor` (held_fields): None when
    the actor may make it directly. A token never relaxes them alone; on a high or
    critical path only a lead does; on a critical path only security. Through a token
    (a security reviewer's own too) it always waits, on any tier."""
    if actor.is_system:
        return None
    critical = path.risk_tier == "critical"
    high = path.risk_tier in ("high", "critical")
    by_token = bool(actor.token_id) or actor.is_integration
    if actor.is_security_reviewer and not by_token:
        return None
    if not by_token and not high:
        return None
    if not by_token and actor.lead_of(path.owner_team_id) and not critical:
        return None
    return "security" if critical else "lead"


def refuse_change_decision(actor: Actor, request: ChangeRequest) -> str | None:
    """A lead of the owning team (security for a critical path, or always), never on a
    change they asked for themselves or through a token they issued, and never through a
    token (their own personal one neither): a person signed in approves."""
    if not actor.is_person or actor.user is None or actor.token_id:
        return errors.HUMAN_REQUIRED
    requesters = (request.requested_by_id, request.requested_through_token_of_id)
    if actor.user.pk in requesters:
        return errors.SELF_REVIEW_FORBIDDEN
    if actor.is_security_reviewer:
        return None
    if request.approver == "lead" and actor.lead_of(request.path.owner_team_id):
        return None
    return errors.CHANGE_NEEDS_APPROVER


def refuse_token_revoke(actor: Actor, token: ApiToken) -> str | None:
    """Revoking an API token: the person it belongs to, or whoever manages the team it
    acts for (its leads, security)."""
    if token.user_id is not None and actor.user is not None and actor.user.pk == token.user_id:
        return None
    team = token.team or token.access_path.owner_team
    # A token of a path nobody owns any more: only security (or the system) stops it.
    return refuse_team_admin(actor) if team is None else refuse_team_manage(actor, team)


def refuse_saved_filter_create(actor: Actor) -> str | None:
    """Saved filters belong to people, not tokens."""
    return None if actor.is_person else errors.HUMAN_REQUIRED


def refuse_saved_filter_archive(actor: Actor, saved: SavedFilter) -> str | None:
    """Only the person who saved a filter removes it."""
    if actor.user is None or saved.user_id != actor.user.pk:
        return errors.NOT_ALLOWED
    return None


def refuse_evidence_pack(actor: Actor) -> str | None:
    """The auditor evidence pack: security (or the system, for the scheduled run)."""
    if actor.is_system or actor.is_security_reviewer:
        return None
    return errors.NOT_A_SECURITY_REVIEWER


def may_use_security_pages(actor: Actor) -> bool:
    """Security's pages (review queues, imports, evidence, dead letters); for anyone
    else they do not exist (404)."""
    return actor.is_security_reviewer


def refuse_personal_token(actor: Actor, user: Any) -> str | None:
    """A personal token is issued to the person themself (or by the system)."""
    if actor.is_system or (actor.user is not None and actor.user.pk == user.pk):
        return None
    return errors.NOT_ALLOWED
