"""Registering and editing access paths (revoking and expiring: services/path_retirement.py)."""

from __future__ import annotations

import copy
import datetime as dt
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from registry.audit import AuditEntry, audit_record, audit_record_many
from registry.models import AccessPath, PolicyException, Tag, Team
from registry.rules import errors, permissions, preconditions
from registry.rules.actors import Actor
from registry.rules.control_points import HIGH_RISK
from registry.rules.errors import Invalid, InvalidTransition, NotFound
from registry.rules.path_fields import AUTHORITY_TEAM_FIELDS, EDITABLE_FIELDS
from registry.rules.policies import Policy, current_policy
from registry.rules.posture import DERIVED_FROM, derived_facts
from registry.rules.validation import (
    PROVENANCE_INPUTS,
    justification_error,
    merge_errors,
    secret_errors,
    ticket_url_error,
)
from registry.runtime.writer_lock import hold_writer_lock
from registry.selectors import visible_paths_q
from registry.selectors.violations import EVERY_RULE, path_verdict
from registry.services import identifiers as identifier_rules
from registry.services._common import (
    check_version,
    expiry_is_source_stated,
    lock_path,
    model_field_errors,
    refuse_if,
    refuse_transition,
    require_text,
    resolve_now,
    save_path,
)
from registry.services.change_requests import hold_for_approval
from registry.services.path_checks import enforce_policy, owner_from_merger, provenance_problems
from registry.services.signoff import signoff_policy_for_new_path, signoff_policy_unchanged
from registry.services.tallies import refresh_facts

REGISTER_FIELDS = EDITABLE_FIELDS | {"owner_team", "tags", "revoker_teams"}
UPDATE_FIELDS = EDITABLE_FIELDS | {"tags", "revoker_teams"}
MAX_TAGS = 20
_TAG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
CLOCK_SKEW = dt.timedelta(minutes=5)
REQUIRED_ON_REGISTER = ("name", "kind", "system", "environment")
# An owned path must say why it exists and where that was decided.
REQUIRED_WHEN_OWNED = ("justification", "ticket_url")
# An owned high or critical path must say who approved its authority; these are the
# fields whose change re-asks the question (unowned discovered access is exempt: the
# posture rule `missing_authority` flags it instead, and a claim does not need it).
APPROVAL_FIELDS = ("risk_tier", "approved_by", "approved_by_team")
MAX_REVOKER_TEAMS = 20


def _pop_tags(values: dict) -> list[str] | None:
    """The tag slugs in `values` (removed from it), checked and normalised; None when
    the caller did not mention tags."""
    if "tags" not in values:
        return None
    raw = values.pop("tags")
    if not isinstance(raw, list | tuple) or not all(isinstance(t, str) for t in raw):
        raise Invalid.single("tags", errors.TAGS_INVALID)
    tags = sorted({t.strip().lower() for t in raw if t.strip()})
    if len(tags) > MAX_TAGS or not all(_TAG.match(t) for t in tags):
        raise Invalid.single("tags", errors.TAGS_INVALID)
    return tags


def _pop_revoker_teams(values: dict) -> list[Team] | None:
    """The revoker teams in `values` (removed from it), sorted by slug; None when the
    caller did not mention them."""
    if "revoker_teams" not in values:
        return None
    raw = values.pop("revoker_teams")
    if not isinstance(raw, list | tuple) or not all(isinstance(t, Team) for t in raw):
        raise Invalid.single("revoker_teams", errors.REVOKER_TEAMS_INVALID)
    teams = sorted({team.pk: team for team in raw}.values(), key=lambda team: team.slug)
    if len(teams) > MAX_REVOKER_TEAMS:
        raise Invalid.single("revoker_teams", errors.REVOKER_TEAMS_INVALID)
    if any(not team.is_active for team in teams):
        raise Invalid.single("revoker_teams", errors.TEAM_INACTIVE)
    return teams


def _set_tags(path: AccessPath, slugs: list[str]) -> None:
    Tag.objects.bulk_create([Tag(slug=s) for s in slugs], ignore_conflicts=True)
    path.tags.set(Tag.objects.filter(slug__in=slugs))


def _refuse_unknown_fields(data: Mapping[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise Invalid({name: [errors.UNKNOWN_FIELD] for name in unknown})


def _domain_errors(
    path: AccessPath, fields: set[str], *, now: dt.datetime, policy: Policy
) -> dict[str, list[str]]:
    """The registry's own rules for the fields being set, on top of Django's."""
    found: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        found.setdefault(field, []).append(message)

    owned = path.owner_team_id is not None
    for field in REQUIRED_WHEN_OWNED:
        if owned and field in fields and not getattr(path, field).strip():
            add(field, errors.REQUIRED)
    check_justification = "justification" in fields and path.justification.strip()
    if check_justification and (message := justification_error(path.justification, policy)):
        add("justification", message)
    check_ticket = "ticket_url" in fields and path.ticket_url
    if check_ticket and (message := ticket_url_error(path.ticket_url)):
        add("ticket_url", message)
    for field in ("last_rotated_at", "last_used_at"):
        # Facts about the past: a future date would silence the rotation and
        # staleness rules for years. A few minutes of clock skew are allowed.
        value = getattr(path, field)
        if field in fields and value is not None and value > now + CLOCK_SKEW:
            add(field, errors.DATE_IN_FUTURE)
    if "expires_at" in fields and path.expires_at is not None:
        if path.expires_at <= now:
            add("expires_at", errors.EXPIRY_IN_PAST)
        elif path.expires_at > now + dt.timedelta(days=policy.max_expiry_days) and not (
            expiry_is_source_stated()
        ):
            add("expires_at", errors.EXPIRY_TOO_FAR.format(days=policy.max_expiry_days))
    removing_expiry = "expires_at" in fields and path.expires_at is None and owned
    if removing_expiry and _live_expiry_waiver(path, now) is None:
        add("expires_at", errors.EXPIRY_REQUIRED)
    for field, message in _approval_errors(path, fields, now=now):
        add(field, message)
    for field, message in provenance_problems(path, fields):
        add(field, message)
    if "review_interval_days" in fields and path.risk_tier in policy.review_interval_days:
        longest = policy.interval_for(path.risk_tier)
        if path.review_interval_days > longest:
            add(
                "review_interval_days",
                errors.REVIEW_INTERVAL_TOO_LONG.format(days=longest, tier=path.risk_tier),
            )
    values = {field: getattr(path, field) for field in fields}
    return merge_errors(found, secret_errors(values))


def _approval_errors(
    path: AccessPath, fields: set[str], *, now: dt.datetime
) -> Iterator[tuple[str, str]]:
    """Who approved the authority: required for an owned high or critical path when it
    is registered, raised to that tier, or its approver changes; dated, not ahead."""
    owned_high = path.owner_team_id is not None and path.risk_tier in HIGH_RISK
    if owned_high and fields & set(APPROVAL_FIELDS):
        if not path.approved_by.strip():
            yield "approved_by", errors.APPROVER_REQUIRED
        if path.approved_by_team_id is None:
            yield "approved_by_team", errors.APPROVER_REQUIRED
    if "approved_at" in fields and path.approved_at is not None:
        if path.approved_at > now:
            yield "approved_at", errors.APPROVED_AT_IN_FUTURE
        if not path.approved_by.strip():
            yield "approved_by", errors.APPROVAL_WITHOUT_APPROVER
    ticket = path.approval_ticket_url if "approval_ticket_url" in fields else ""
    if ticket and (message := ticket_url_error(ticket)):
        yield "approval_ticket_url", message
    for field in AUTHORITY_TEAM_FIELDS:
        team = getattr(path, field) if getattr(path, f"{field}_id") else None
        if field in fields and team is not None and not team.is_active:
            yield field, errors.TEAM_INACTIVE


def _approval_dated(values: dict, now: dt.datetime, *, before: str = "") -> None:
    """An approver named without a date was approved now; removing the approver
    removes the date (unless the caller says otherwise)."""
    if "approved_by" in values and values["approved_by"] is None:
        values["approved_by"] = ""  # "nobody", as the other text fields say it
    if "approved_by" not in values or "approved_at" in values:
        return
    named = (values["approved_by"] or "").strip()
    if named and named != before:
        values["approved_at"] = now
    elif not named:
        values["approved_at"] = None


def _validate(path: AccessPath, fields: set[str], *, now: dt.datetime, policy: Policy) -> None:
    domain = _domain_errors(path, fields, now=now, policy=policy)
    # Where the registry has its own, more specific message for a field (a ticket URL
    # that is not http(s)), it replaces Django's generic one ("Enter a valid URL.").
    model = {k: v for k, v in model_field_errors(path, fields).items() if k not in domain}
    if found := merge_errors(model, domain):
        raise Invalid(found)


def _new_path(
    actor: Actor, data: Mapping[str, Any], *, now: dt.datetime, policy: Policy
) -> tuple[AccessPath, list[str] | None, list[Team], dict]:
    """A new path built and validated from `data` (not saved), its tags, its revoker
    teams and the audit
    changes of its registration: every rule of registering, shared by one-at-a-time
    registration and bulk imports."""
    _refuse_unknown_fields(data, REGISTER_FIELDS)
    data = owner_from_merger(data)
    owner = data.get("owner_team")
    refuse_if(permissions.refuse_register(actor, owner))
    if (steward := data.get("steward_team")) is not None:
        refuse_if(permissions.refuse_steward(actor, steward, owned=owner is not None))
    if owner is not None and not owner.is_active:
        raise Invalid.single("owner_team", errors.TEAM_INACTIVE)
    missing = [f for f in REQUIRED_ON_REGISTER if not data.get(f)]
    if missing:
        raise Invalid({f: [errors.REQUIRED] for f in missing})

    values = dict(data)
    tags = _pop_tags(values)
    revokers = _pop_revoker_teams(values)
    _approval_dated(values, now)
    risk_tier = values.setdefault("risk_tier", AccessPath.RiskTier.MEDIUM)
    if risk_tier in policy.review_interval_days:
        values.setdefault("review_interval_days", policy.interval_for(risk_tier))
        if owner is not None and values.get("expires_at") is None:
            values["expires_at"] = now + policy.default_expiry_for(risk_tier)
    fields = set(values)
    path = AccessPath(
        **values,
        state=AccessPath.State.ACTIVE if owner else AccessPath.State.UNOWNED,
        state_changed_at=now,
        created_at=now,
        updated_at=now,
    )
    checked = fields | set(REQUIRED_WHEN_OWNED) | set(APPROVAL_FIELDS) | set(PROVENANCE_INPUTS)
    _validate(path, checked, now=now, policy=policy)
    if owner is not None:
        path.next_review_at = now + dt.timedelta(days=path.review_interval_days)
    for field, value in derived_facts(path, policy).items():
        setattr(path, field, value)
    changes = {
        field: [None, getattr(path, field)]
        for field in sorted(fields | {"state", "next_review_at"})
        if getattr(path, field) not in (None, "")
    }
    if tags:
        changes["tags"] = [None, tags]
    if revokers:
        changes["revoker_teams"] = [None, [team.slug for team in revokers]]
    return path, tags, revokers or [], changes


@transaction.atomic
def path_register(
    *,
    actor: Actor,
    data: Mapping[str, Any],
    now: dt.datetime | None = None,
    enforce: bool = True,
) -> AccessPath:
    """Record a new access path. With an owner team it starts active, with a review date
    from its risk tier and an expiry; without one it starts unowned. `enforce`: the
    policy's verdict decides (rules/enforcement.py: refused raises PolicyRefused,
    otherwise `path.verdict` says what it breaks); imports pass False, since the
    credentials they record already exist."""
    now = resolve_now(now)
    policy = current_policy()
    data = dict(data)
    identifiers = data.pop("identifiers", None)
    signoff_policy = data.pop("signoff_policy", None)  # services/signoff.py
    wanted = identifier_rules.parse(identifiers) if identifiers is not None else []
    path, tags, revokers, changes = _new_path(actor, data, now=now, policy=policy)
    hold_writer_lock()  # before any read or lock: runtime/writer_lock.py
    _refuse_duplicate_external_id(path, actor)
    with _duplicate_external_id_as_invalid():
        path.save(force_insert=True)
    if tags:
        _set_tags(path, tags)
    if revokers:
        path.revoker_teams.set(revokers)
    audit_record(actor=actor, action="access_path.registered", obj=path, now=now, changes=changes)
    if signoff_policy is not None:
        signoff_policy_for_new_path(actor=actor, path=path, data=signoff_policy, now=now)
    refresh_facts([path.pk], now=now)
    if enforce:  # after the sign-off policy it carries: MISSING_SIGNOFF_POLICY reads it
        enforce_policy(path, now=now, policy=policy)
    if wanted:
        identifier_rules.apply_identifiers(
            actor=actor, locked=path, wanted=wanted, source="manual", now=now
        )
    return path


@transaction.atomic
def paths_register_many(
    *, actor: Actor, datas: list[Mapping[str, Any]], now: dt.datetime | None = None
) -> list[AccessPath | Invalid]:
    """Register many new paths at once (bulk imports): each is built and validated by
    the same rules as path_register, the valid ones are inserted together and audited in
    one append. Returns, per item, its path or why it was refused. Callers pass paths
    whose (system, external_id) they found unregistered and without tags; a concurrent
    registration of the same key makes the whole batch fail, to be retried one by one."""
    now = resolve_now(now)
    policy = current_policy()
    outcomes: list[AccessPath | Invalid] = []
    entries: list[AuditEntry] = []
    for data in datas:
        try:
            path, tags, revokers, changes = _new_path(actor, data, now=now, policy=policy)
        except Invalid as exc:
            outcomes.append(exc)
            continue
        if tags or revokers:
            raise ValueError("paths_register_many takes paths without tags or revoker teams")
        outcomes.append(path)
        entries.append(AuditEntry(action="access_path.registered", obj=path, changes=changes))
    created = [o for o in outcomes if isinstance(o, AccessPath)]
    hold_writer_lock()  # before any read or lock: runtime/writer_lock.py
    AccessPath.objects.bulk_create(created)
    refresh_facts([path.pk for path in created], now=now)
    audit_record_many(actor=actor, now=now, entries=entries)
    return outcomes


@contextmanager
def _duplicate_external_id_as_invalid() -> Iterator[None]:
    """A concurrent registration of the same (system, external_id) can win the race
    after our check; report that as the field error. Any other integrity error is a
    bug and propagates."""
    try:
        with transaction.atomic():
            yield
    except IntegrityError as exc:
        if "external_id" not in str(exc):
            raise
        raise Invalid.single("external_id", errors.DUPLICATE_EXTERNAL_ID) from exc


def _refuse_duplicate_external_id(path: AccessPath, actor: Actor) -> None:
    """A (system, external_id) already registered. Whoever can see that path is told
    the field is taken; anyone else gets the answer an invisible path always gets (404),
    so registering is no oracle for what other teams hold (docs/API.md)."""
    if not path.external_id:
        return
    taken = AccessPath.objects.filter(system=path.system, external_id=path.external_id)
    taken = taken.exclude(pk=path.pk)
    if not taken.exists():
        return
    if not _visible(taken, actor):
        raise NotFound(errors.NOT_FOUND)
    raise Invalid.single("external_id", errors.DUPLICATE_EXTERNAL_ID)


def _visible(paths: QuerySet[AccessPath], actor: Actor) -> bool:
    scope = visible_paths_q(actor)
    return scope is None or paths.filter(scope).exists()


@transaction.atomic
def path_update(
    *,
    actor: Actor,
    path: AccessPath,
    changes: Mapping[str, Any],
    expected_version: int | None = None,
    reason: str = "",
    now: dt.datetime | None = None,
    enforce: bool = True,
) -> AccessPath:
    """Edit a path's facts. A change of risk tier or interval moves the next review date;
    a change that sets every value to what it already is writes nothing. `identifiers`
    (when given) become the path's live identifiers (services/identifiers.py).
    `enforce`: as for path_register; a rule the path broke before the edit does not
    hold up an edit that did not cause it (rules/enforcement.Finding.already)."""
    now = resolve_now(now)
    changes = dict(changes)
    identifiers = changes.pop("identifiers", None)
    wanted = identifier_rules.parse(identifiers) if identifiers is not None else None
    updated = _update(
        actor=actor,
        path=path,
        changes=changes,
        expected_version=expected_version,
        reason=reason,
        now=now,
        enforce=enforce,
    )
    if wanted is not None:
        identifier_rules.identifiers_set(actor=actor, path=updated, identifiers=wanted, now=now)
    return updated


def _update(
    *,
    actor: Actor,
    path: AccessPath,
    changes: Mapping[str, Any],
    expected_version: int | None,
    reason: str,
    now: dt.datetime,
    enforce: bool,
) -> AccessPath:
    policy = current_policy()
    _refuse_unknown_fields(changes, UPDATE_FIELDS)
    locked = lock_path(path.pk)
    refuse_if(permissions.refuse_update(actor, locked))
    refuse_transition(preconditions.refuse_not_live(locked, now))
    check_version(locked, expected_version)
    # What it broke before the edit: judged against, and the answer when nothing changes.
    unchanged = path_verdict(locked, now=now, policy=policy, before=EVERY_RULE) if enforce else None
    before = [finding.rule.code for finding in unchanged.findings] if unchanged else []

    values = dict(changes)
    steward = values.get("steward_team")
    if steward is not None and steward.pk != locked.steward_team_id:
        owned = locked.owner_team_id is not None
        refuse_if(permissions.refuse_steward(actor, steward, owned=owned))
    tags = _pop_tags(values)
    old_tags = sorted(locked.tags.values_list("slug", flat=True)) if tags is not None else None
    revokers = _pop_revoker_teams(values)
    old_revokers = new_revokers = None
    if revokers is not None:
        old_revokers = sorted(locked.revoker_teams.values_list("slug", flat=True))
        new_revokers = [team.slug for team in revokers]
    _approval_dated(values, now, before=locked.approved_by)
    if "risk_tier" in values and "review_interval_days" not in values:
        tier = values["risk_tier"]
        if tier in policy.review_interval_days and tier != locked.risk_tier:
            values["review_interval_days"] = policy.interval_for(tier)
    candidate = copy.copy(locked)
    for field, value in values.items():
        setattr(candidate, field, value)
    changed = {f for f, v in values.items() if getattr(locked, f) != v}
    tags_changed = tags is not None and tags != old_tags
    revokers_changed = revokers is not None and new_revokers != old_revokers
    if not changed and not tags_changed and not revokers_changed:
        locked.verdict = unchanged
        return locked
    _validate(candidate, changed, now=now, policy=policy)
    _refuse_duplicate_external_id(candidate, actor)
    changed = hold_for_approval(
        actor, locked, candidate, changes, changed, reason=reason, now=now, policy=policy
    )
    if "requires_human_signoff" in changed and not candidate.requires_human_signoff:
        refuse_if(permissions.refuse_lift_signoff(actor, locked))
    if not changed and not tags_changed and not revokers_changed:
        locked.verdict = unchanged
        return locked

    writes = {field: getattr(candidate, field) for field in changed}
    if "review_interval_days" in changed and locked.state == AccessPath.State.ACTIVE:
        base = locked.last_attested_at or locked.state_changed_at
        writes["next_review_at"] = base + dt.timedelta(days=candidate.review_interval_days)
    if changed & DERIVED_FROM:
        writes |= derived_facts(candidate, policy)
    if "expires_at" in changed and candidate.expires_at is None:
        writes["expiry_waiver"] = _live_expiry_waiver(locked, now)
    if reason:
        reason = require_text("reason", reason)
    with _duplicate_external_id_as_invalid():
        change_log = save_path(locked, writes, now=now)
    if tags_changed and tags is not None:
        _set_tags(locked, tags)
        change_log["tags"] = [old_tags, tags]
    if revokers_changed and revokers is not None:
        locked.revoker_teams.set(revokers)
        change_log["revoker_teams"] = [old_revokers, new_revokers]
    if enforce:
        enforce_policy(locked, now=now, policy=policy, before=before)
    audit_record(
        actor=actor,
        action="access_path.updated",
        obj=locked,
        now=now,
        changes=change_log,
        reason=reason,
    )
    return locked


def _live_expiry_waiver(path: AccessPath, now: dt.datetime) -> PolicyException | None:
    """The approved, unexpired no-expiry exception that lets an owned path have no expiry."""
    return (
        PolicyException.objects.filter(
            path_id=path.pk,
            rule=PolicyException.Rule.NO_EXPIRY,
            status=PolicyException.Status.APPROVED,
            expires_at__gt=now,
        )
        .order_by("-expires_at")
        .first()
    )


def _register_would_change(path: AccessPath, data: Mapping[str, Any]) -> bool:
    """Whether registering `data` again would change `path`; what it cannot compare counts
    as a change, so a doubtful call takes the ordinary route (permission, path_update)."""
    for field, value in data.items():
        if field == "tags":
            wanted: Any = sorted({t.strip().lower() for t in value if isinstance(t, str)} - {""})
            have: Any = sorted(path.tags.values_list("slug", flat=True))
        elif field == "revoker_teams":
            wanted = {getattr(team, "pk", team) for team in value}
            have = set(path.revoker_teams.values_list("pk", flat=True))
        elif field == "identifiers":
            wanted = set(identifier_rules.parse(value))
            have = {(i.kind, i.value) for i in identifier_rules.live_identifiers(path)}
        elif field in EDITABLE_FIELDS or field == "owner_team":
            wanted, have = value, getattr(path, field)
        else:
            return True
        if wanted != have:
            return True
    return False


@transaction.atomic
def path_register_or_update(
    *,
    actor: Actor,
    data: Mapping[str, Any],
    now: dt.datetime | None = None,
    enforce: bool = True,
) -> tuple[AccessPath, bool]:
    """Register a path by (system, external_id), or bring the registered one up to date:
    what a pipeline calls at the moment it creates access, as often as it runs. An
    identical second call changes nothing. Returns (path, created). `enforce`: as for
    path_register (imports pass False)."""
    now = resolve_now(now)
    system, external_id = data.get("system"), data.get("external_id")
    missing = [f for f, v in (("system", system), ("external_id", external_id)) if not v]
    if missing:
        raise Invalid({f: [errors.REQUIRED] for f in missing})
    existing = AccessPath.objects.filter(system=system, external_id=external_id).first()
    if existing is None:
        try:
            with transaction.atomic():
                return path_register(actor=actor, data=data, now=now, enforce=enforce), True
        except Invalid as exc:
            if exc.errors.get("external_id") != [errors.DUPLICATE_EXTERNAL_ID]:
                raise
        # Registered concurrently by another call: update that one instead.
        existing = AccessPath.objects.get(system=system, external_id=external_id)
    # Someone who may not edit the registered path learns nothing more about it.
    # Someone who cannot see the registered path gets what any invisible path gets.
    if not _visible(AccessPath.objects.filter(pk=existing.pk), actor):
        raise NotFound(errors.NOT_FOUND)
    data = dict(data)
    if (signoff_policy := data.pop("signoff_policy", None)) is not None:
        signoff_policy_unchanged(existing, signoff_policy)  # a lead changes it, not this
    # A retried identical call changes nothing: the path back, even to a caller who may not
    # edit it (a team token that registered an unowned path); a change needs the permission.
    if not _register_would_change(existing, data):
        refuse_transition(preconditions.refuse_not_live(existing, now))
        if enforce:
            policy = current_policy()
            existing.verdict = path_verdict(existing, now=now, policy=policy, before=EVERY_RULE)
        return existing, False
    refuse_if(permissions.refuse_update(actor, existing))
    changes = dict(data)
    if "owner_team" in changes:
        owner = changes.pop("owner_team")
        if (owner.pk if owner else None) != existing.owner_team_id:
            raise InvalidTransition(errors.OWNER_DIFFERS)
    updated = path_update(actor=actor, path=existing, changes=changes, now=now, enforce=enforce)
    return updated, False
