"""CI trust rules: pipelines that authenticate with their CI platform's OIDC token
(GitHub Actions, GitLab CI) instead of a stored registry secret.

A rule says which tokens (issuer, claim patterns) act as which team's integration. It
is governed like the registry's own tokens: made and retired by security (audited), and
registered as an access path owned by the team, reviewed and expiring like any path.
Its authority is a team API token whose secret is discarded at once (see
CiTrustRule), so a pipeline it admits acts with exactly a team token's scopes and
throttle, and the path's revocation or expiry stops the rule.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from fnmatch import fnmatchcase
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from registry.audit import audit_record
from registry.models import AccessPath, ApiToken, CiTrustRule, Team
from registry.rules import errors, permissions, token_format
from registry.rules.actors import Actor
from registry.rules.errors import Invalid, InvalidTransition
from registry.rules.status import is_live
from registry.runtime import oidc_keys
from registry.services._common import refuse_if, require_text, resolve_now
from registry.services.paths import path_register
from registry.services.tokens import (
    LAST_USED_RESOLUTION,
    MAX_TOKEN_DAYS,
    REGISTRY_SYSTEM,
    token_revoke,
)

# The claims a rule may test: GitHub Actions' and GitLab CI's (their documentation's
# names). Every rule pins the repository or project, so no rule trusts a whole platform.
MATCHABLE_CLAIMS = frozenset(
    {
        "sub",
        "repository",
        "repository_owner",
        "repository_id",
        "ref",
        "ref_type",
        "environment",
        "workflow",
        "workflow_ref",
        "job_workflow_ref",
        "event_name",
        "project_path",
        "project_id",
        "namespace_path",
        "pipeline_source",
        "ref_protected",
        "deployment_tier",
    }
)
PINNING_CLAIMS = frozenset({"repository", "repository_id", "project_path", "project_id"})

ISSUER_NOT_ALLOWED = "This issuer is not in NHI_CI_OIDC_ISSUERS: {allowed}."
CONDITIONS_SHAPE = 'Give an object of claim name to pattern, e.g. {{"repository": "acme/pay"}}.'
CONDITIONS_UNKNOWN_CLAIM = "Claims a rule may test: {claims}."
CONDITIONS_NEED_PIN = (
    "Pin the repository or project with an exact value (no *, ? or [): one of {claims}."
)
# fnmatch's pattern characters: a pin that holds one is a family of repositories
# (`acme*/pay` matches `acmeattacker/pay`), not a pin.
_PATTERN_CHARACTERS = frozenset("*?[")
RULE_RETIRED = "This trust rule is already retired."
# What a refused pipeline is told (and the audit records as the reason).
NO_MATCHING_RULE = (
    "The CI token is valid, but no live trust rule of any team matches its claims "
    "(repository, ref, environment, project path)."
)
AMBIGUOUS_RULES = "The CI token matches trust rules of several teams; security must narrow them."
ISSUER_NOT_TRUSTED = "CI tokens from this issuer are not accepted."


class CiTokenRefused(Exception):
    """A CI token that does not authenticate: `status` 401 (not a valid token for us)
    or 403 (valid, but trusted by no rule); `token` is the rule's grant when one is
    concerned."""

    def __init__(
        self, why: str, message: str, *, status: int = 401, token: ApiToken | None = None
    ) -> None:
        super().__init__(message)
        self.why, self.message, self.status, self.token = why, message, status, token


def _check_conditions(conditions: object) -> dict[str, str]:
    if not isinstance(conditions, Mapping) or not conditions:
        raise Invalid.single("conditions", CONDITIONS_SHAPE)
    checked: dict[str, str] = {}
    for claim, pattern in conditions.items():
        if claim not in MATCHABLE_CLAIMS:
            raise Invalid.single(
                "conditions",
                CONDITIONS_UNKNOWN_CLAIM.format(claims=", ".join(sorted(MATCHABLE_CLAIMS))),
            )
        checked[claim] = require_text("conditions", pattern if isinstance(pattern, str) else "")
    exact_pins = [
        claim
        for claim in PINNING_CLAIMS & set(checked)
        if not _PATTERN_CHARACTERS & set(checked[claim])
    ]
    if not exact_pins:
        raise Invalid.single(
            "conditions", CONDITIONS_NEED_PIN.format(claims=", ".join(sorted(PINNING_CLAIMS)))
        )
    return dict(sorted(checked.items()))


def _describe(conditions: Mapping[str, str]) -> str:
    return ", ".join(f"{claim}={pattern}" for claim, pattern in conditions.items())


@transaction.atomic
def ci_rule_create(
    *,
    actor: Actor,
    team: Team,
    name: str,
    issuer: str,
    conditions: object,
    scopes: list[str],
    ticket_url: str,
    expires_in_days: int = 90,
    now: dt.datetime | None = None,
) -> CiTrustRule:
    """Trust the pipelines matching `conditions` as `team`'s integration. Security only."""
    now = resolve_now(now)
    refuse_if(permissions.refuse_team_admin(actor))
    name = require_text("name", name)
    issuer = issuer.strip().rstrip("/")
    if issuer not in settings.NHI_CI_OIDC_ISSUERS:
        allowed = ", ".join(settings.NHI_CI_OIDC_ISSUERS) or "none configured"
        raise Invalid.single("issuer", ISSUER_NOT_ALLOWED.format(allowed=allowed))
    checked = _check_conditions(conditions)
    if not scopes or not set(scopes) <= set(ApiToken.Scope.values):
        raise Invalid.single("scopes", errors.TOKEN_SCOPES)
    scopes = sorted(set(scopes))
    if not 1 <= expires_in_days <= MAX_TOKEN_DAYS:
        raise Invalid.single("expires_in_days", errors.TOKEN_LIFETIME.format(days=MAX_TOKEN_DAYS))
    if not team.is_active:
        raise Invalid.single("team", errors.TEAM_INACTIVE)
    if CiTrustRule.objects.filter(team=team, name=name, retired_at__isnull=True).exists():
        raise Invalid.single(
            "name", f"The {team.slug} team already has a live rule named {name!r}."
        )
    # Nobody ever holds this secret: the grant is proved by the CI token instead.
    prefix = token_format.display_prefix(token_format.generate())
    expires_at = now + dt.timedelta(days=expires_in_days)
    holder = f"CI pipelines ({_describe(checked)}) from {issuer}"
    path = path_register(
        actor=actor,
        data={
            "name": f"CI trust rule '{name}' for {team.slug}",
            "kind": AccessPath.Kind.WORKLOAD_IDENTITY,
            "system": REGISTRY_SYSTEM,
            "external_id": f"ci-trust:{prefix}",
            "environment": AccessPath.Environment.PROD,
            "owner_team": team,
            "approved_by": actor.label[:200],
            "approved_by_team": team,
            "created_via": AccessPath.CreatedVia.HUMAN,
            "created_by_ref": actor.label,
            "consumers": holder,
            "ticket_url": ticket_url,
            "justification": (
                f"{holder} act as the {team.slug} team's integration ({', '.join(scopes)}) "
                f"with their short-lived CI OIDC token; no registry secret is stored."
            ),
            "privilege_scope": f"NHI Registry API: {', '.join(scopes)} as the {team.slug} team",
            "risk_tier": AccessPath.RiskTier.HIGH
            if "write" in scopes
            else AccessPath.RiskTier.MEDIUM,
            "credential_lifetime": AccessPath.CredentialLifetime.EPHEMERAL,
            "expires_at": expires_at,
            "revocation_plan": "Retire the trust rule (manage.py ci_trust_rule retire) or revoke "
            "this path: matching pipelines are refused at once.",
        },
        now=now,
    )
    grant = ApiToken.objects.create(
        name=f"CI: {name}"[:100],
        prefix=prefix,
        token_hash=token_format.hash_token(token_format.generate()),
        team=team,
        scopes=scopes,
        expires_at=expires_at,
        access_path=path,
        created_by_label=actor.label,
        created_by=actor.user,
        created_at=now,
    )
    rule = CiTrustRule.objects.create(
        name=name,
        team=team,
        issuer=issuer,
        conditions=checked,
        grant=grant,
        created_at=now,
        created_by_label=actor.label,
    )
    audit_record(
        actor=actor,
        action="ci_trust_rule.created",
        obj=rule,
        path=path,
        now=now,
        changes={
            "team": [None, team.slug],
            "issuer": [None, issuer],
            "conditions": [None, checked],
            "scopes": [None, scopes],
            "expires_at": [None, expires_at],
        },
    )
    return rule


@transaction.atomic
def ci_rule_retire(
    *, actor: Actor, rule: CiTrustRule, reason: str, now: dt.datetime | None = None
) -> CiTrustRule:
    """Stop trusting a rule's pipelines at once; its grant and access path are revoked."""
    now = resolve_now(now)
    refuse_if(permissions.refuse_team_admin(actor))
    reason = require_text("reason", reason)
    if CiTrustRule.objects.filter(pk=rule.pk, retired_at__isnull=True).update(retired_at=now) != 1:
        raise InvalidTransition(RULE_RETIRED)
    rule.refresh_from_db()
    audit_record(
        actor=actor,
        action="ci_trust_rule.retired",
        obj=rule,
        path=rule.grant.access_path,
        now=now,
        changes={"retired_at": [None, now]},
        reason=reason,
    )
    if rule.grant.revoked_at is None:
        token_revoke(actor=actor, token=rule.grant, reason=reason, now=now)
    return rule


def _matches(conditions: Mapping[str, str], claims: Mapping[str, Any]) -> bool:
    for claim, pattern in conditions.items():
        value = claims.get(claim)
        if isinstance(value, bool):
            value = "true" if value else "false"
        if not isinstance(value, str | int) or not fnmatchcase(str(value), pattern):
            return False
    return True


def ci_authenticate(raw: str, *, now: dt.datetime | None = None) -> tuple[ApiToken, dict]:
    """The grant a CI OIDC token acts with, and its verified claims; CiTokenRefused
    otherwise. Only issuers in NHI_CI_OIDC_ISSUERS are ever contacted."""
    now = now or timezone.now()
    try:
        _, unverified = oidc_keys.unverified_claims(raw)
        issuer = unverified.get("iss")
        if not isinstance(issuer, str) or issuer not in settings.NHI_CI_OIDC_ISSUERS:
            raise CiTokenRefused("ci_wrong_issuer", ISSUER_NOT_TRUSTED)
        claims = oidc_keys.verify(
            raw, issuer=issuer, audiences=[settings.NHI_CI_OIDC_AUDIENCE], now=now
        )
    except oidc_keys.TokenRefused as exc:
        raise CiTokenRefused(f"ci_{exc.why}", exc.message) from exc
    rules = [
        rule
        for rule in CiTrustRule.objects.select_related(
            "team", "grant", "grant__team", "grant__access_path"
        )
        .filter(
            issuer=issuer,
            retired_at__isnull=True,
            grant__revoked_at__isnull=True,
            grant__expires_at__gt=now,
            team__is_active=True,
        )
        .order_by("pk")
        if is_live(rule.grant.access_path, now) and _matches(rule.conditions, claims)
    ]
    if not rules:
        raise CiTokenRefused("ci_no_rule", NO_MATCHING_RULE, status=403)
    if len({rule.team_id for rule in rules}) > 1:
        raise CiTokenRefused("ci_ambiguous", AMBIGUOUS_RULES, status=403)
    grant = rules[0].grant
    if grant.last_used_at is None or now - grant.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=grant.pk).update(last_used_at=now)
        grant.last_used_at = now
    return grant, claims
