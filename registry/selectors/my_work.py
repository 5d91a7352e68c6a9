"""What needs me now: the "My work" landing page's counts, and the decision queues'
context (risk, scope, violations) for a page of requests.

Every count is one bounded query (`_capped`: COUNT over at most CAP + 1 rows), and the
per-row permission rules (rules/permissions.py) are applied in Python to rows read in
one query, so the page costs the same number of queries whatever the estate holds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from django.db.models import BooleanField, ExpressionWrapper, Q, QuerySet

from registry.models import (
    AccessPath,
    AgentAction,
    ChangeRequest,
    Claim,
    Incident,
    Membership,
    PolicyException,
    Transfer,
)
from registry.rules import permissions
from registry.rules import signoff as signoff_rules
from registry.rules.actors import Actor
from registry.rules.policies import Policy
from registry.rules.posture import RULES, PostureRule, violation_q
from registry.rules.status import status_q, unconfirmed_q
from registry.selectors.incidents import visible_incidents
from registry.selectors.notifications import dead_notifications
from registry.selectors.paths import path_list
from registry.selectors.requests import pending_claims, pending_exceptions, transfers_waiting_for

# Past this many, a count reads "CAP+": the page says "a lot", it does not count the estate.
CAP = 99
# Rows read to apply a per-row rule (self-review, who decides a change): past CAP the
# count is capped anyway, so reading more would change nothing shown.
ROWS_FOR_RULES = CAP + 1
# How far ahead an approved exception's end counts as "expiring soon".
EXCEPTION_HORIZON = dt.timedelta(days=14)
# Rows listed under a count that has no list page of its own.
PREVIEW = 5
DUE_STATUSES = ("review_due", "overdue", "lapsed")


def _capped(qs: QuerySet[Any]) -> int:
    return qs.order_by()[: CAP + 1].count()


@dataclass(frozen=True)
class SecurityCounts:
    claims: int
    exceptions: int
    lapsed: int
    unconfirmed: int
    dead: int


@dataclass(frozen=True)
class MyWork:
    reviews_due: int
    claims: int | None  # None: this person decides no claims
    transfers: int
    signoffs: int
    signoff_paths: list[AccessPath]
    incidents: int
    exceptions_expiring: int
    expiring: list[PolicyException]
    changes: int
    change_list: list[ChangeRequest]
    security: SecurityCounts | None
    cap: int = CAP
    # Agents' actions waiting for this person's sign-off (issue 18: the sign-off queue).
    agent_signoffs: int = 0

    @property
    def total(self) -> int:
        return (
            self.reviews_due
            + (self.claims or 0)
            + self.transfers
            + self.signoffs
            + self.incidents
            + self.exceptions_expiring
            + self.changes
            + self.agent_signoffs
        )


def due_paths(*, actor: Actor, now: dt.datetime, policy: Policy) -> QuerySet[AccessPath]:
    """My teams' paths due, overdue or lapsed for attestation (the "My teams" queue)."""
    return path_list(
        actor=actor, filters={"status": list(DUE_STATUSES)}, now=now, policy=policy
    ).filter(owner_team_id__in=sorted(actor.team_ids))


def decidable_claims(*, actor: Actor, limit: int) -> list[Claim]:
    """Pending claims, oldest first, that this person may decide (not their own)."""
    if permissions.refuse_review(actor) is not None:
        return []
    rows = pending_claims()[:limit]
    return [c for c in rows if permissions.refuse_claim_decision(actor, c) is None]


def _decidable_changes(actor: Actor) -> list[ChangeRequest]:
    led = [team_id for team_id, role in actor.roles.items() if role == Membership.Role.LEAD]
    pending = ChangeRequest.objects.filter(status=ChangeRequest.Status.PENDING)
    if not actor.is_security_reviewer:
        if not led:
            return []
        pending = pending.filter(approver=ChangeRequest.Approver.LEAD, path__owner_team_id__in=led)
    rows = pending.select_related("path", "path__owner_team").order_by("created_at", "id")
    return [
        cr for cr in rows[:ROWS_FOR_RULES] if permissions.refuse_change_decision(actor, cr) is None
    ]


def waiting_agent_actions(actor: Actor) -> QuerySet[AgentAction]:
    """Agents' actions waiting for sign-off that are this person's to look at, oldest
    first: every one for security, those of the teams they lead for a lead, none for a
    token (rules/signoff.refuse_agent_action_decide decides each)."""
    pending = AgentAction.objects.filter(signoff=AgentAction.Signoff.PENDING)
    if not actor.is_security_reviewer:
        led = [team_id for team_id, role in actor.roles.items() if role == Membership.Role.LEAD]
        if not led or actor.token_id:
            return pending.none()
        pending = pending.filter(path__owner_team_id__in=sorted(led))
    return pending.select_related("path", "path__owner_team", "token").order_by("recorded_at", "id")


def _decidable_agent_actions(actor: Actor) -> int:
    rows = waiting_agent_actions(actor)[:ROWS_FOR_RULES]
    return sum(1 for a in rows if signoff_rules.refuse_agent_action_decide(actor, a) is None)


def _security_counts(now: dt.datetime, policy: Policy) -> SecurityCounts:
    lapsed = AccessPath.objects.filter(status_q("lapsed", now=now, policy=policy))
    return SecurityCounts(
        claims=_capped(Claim.objects.filter(status=Claim.Status.PENDING)),
        exceptions=_capped(pending_exceptions()),
        lapsed=_capped(lapsed),
        unconfirmed=_capped(AccessPath.objects.filter(unconfirmed_q(now, policy))),
        dead=_capped(dead_notifications()),
    )


def my_work(*, actor: Actor, now: dt.datetime, policy: Policy) -> MyWork:
    """What needs this person now, each a count (capped) and, where no list page
    exists for it, the first few rows."""
    teams = sorted(actor.team_ids)
    led = sorted(t for t, role in actor.roles.items() if role == Membership.Role.LEAD)
    due = due_paths(actor=actor, now=now, policy=policy)
    # A path that needs a lead's sign-off waits for its team's lead (rules/permissions
    # refuse_attest): listed for leads only.
    signoff = due.filter(requires_human_signoff=True, owner_team_id__in=led)
    transfers = [
        t
        for t in transfers_waiting_for(actor=actor)[:ROWS_FOR_RULES]
        if permissions.refuse_transfer_answer(actor, t) is None
    ]
    incidents = visible_incidents(actor=actor).exclude(state=Incident.State.CLOSED)
    if not actor.sees_everything:
        mine = Q(path__owner_team_id__in=teams) | Q(path__steward_team_id__in=teams)
        if actor.user is not None:
            mine |= Q(reported_by=actor.user)
        incidents = incidents.filter(mine)
    expiring = PolicyException.objects.filter(
        status=PolicyException.Status.APPROVED,
        expires_at__gt=now,
        expires_at__lte=now + EXCEPTION_HORIZON,
    )
    if not actor.is_security_reviewer:
        expiring = expiring.filter(path__owner_team_id__in=teams)
    expiring = expiring.select_related("path").order_by("expires_at", "id")
    changes = _decidable_changes(actor)
    security = _security_counts(now, policy) if actor.is_security_reviewer else None
    claims = (
        len(decidable_claims(actor=actor, limit=ROWS_FOR_RULES))
        if permissions.refuse_review(actor) is None
        else None
    )
    return MyWork(
        reviews_due=_capped(due) if teams else 0,
        claims=claims,
        transfers=len(transfers),
        signoffs=_capped(signoff) if led else 0,
        signoff_paths=list(signoff.order_by("next_review_at", "id")[:PREVIEW]) if led else [],
        incidents=_capped(incidents),
        exceptions_expiring=_capped(expiring),
        expiring=list(expiring[:PREVIEW]),
        changes=len(changes),
        change_list=changes[:PREVIEW],
        security=security,
        agent_signoffs=_decidable_agent_actions(actor) if led or actor.is_security_reviewer else 0,
    )


# --- the decision queues' context ------------------------------------------------------


@dataclass
class QueueRow:
    """One request in a decision queue, with the path's context and whether this person
    may decide it (the same rule as the service's)."""

    request: Any  # a Claim or a Transfer, its path loaded
    violations: list[PostureRule] = field(default_factory=list)
    may_decide: bool = False
    refusal: str = ""
    next_id: int | None = None


def violations_of(
    paths: Sequence[AccessPath], *, now: dt.datetime, policy: Policy
) -> dict[Any, list[PostureRule]]:
    """The rules each path breaks now, unsilenced: the path page's words
    (rules/posture.violation_q per rule) for a page of paths in one query."""
    if not paths:
        return {}
    names = {f"breaks_{i}": rule for i, rule in enumerate(RULES)}
    flags = (
        AccessPath.objects.filter(pk__in=[p.pk for p in paths])
        .annotate(
            **{
                name: ExpressionWrapper(
                    violation_q(rule.code, now=now, policy=policy), output_field=BooleanField()
                )
                for name, rule in names.items()
            }
        )
        .values("pk", *names)
    )
    found = {row["pk"]: [rule for name, rule in names.items() if row[name]] for row in flags}
    return {p.pk: found.get(p.pk, []) for p in paths}


# Who may decide each kind of request: the services' own rules.
DECIDERS: dict[str, Callable[[Actor, Any], str | None]] = {
    "claim": permissions.refuse_claim_decision,
    "transfer": permissions.refuse_transfer_answer,
    "signoff": signoff_rules.refuse_agent_action_decide,  # an agent's action (issue 18)
}


def queue_rows(
    requests: Iterable[Any], *, kind: str, actor: Actor, now: dt.datetime, policy: Policy
) -> list[QueueRow]:
    """Rows for claims or transfers (their paths loaded), "next" linking each row this
    person may decide to the following one."""
    refuse = DECIDERS[kind]
    requests = list(requests)
    rules = violations_of([r.path for r in requests], now=now, policy=policy)
    rows = []
    for request in requests:
        refusal = refuse(actor, request) or ""
        rows.append(
            QueueRow(request, rules[request.path.pk], may_decide=not refusal, refusal=refusal)
        )
    decidable = [row for row in rows if row.may_decide]
    for row, following in pairwise(decidable):
        row.next_id = following.request.pk
    return rows


def claim_queue(*, actor: Actor, now: dt.datetime, policy: Policy, size: int) -> list[QueueRow]:
    """Pending claims, oldest first, with their paths' context: two queries."""
    claims = pending_claims().select_related("path__owner_team", "path__steward_team")[:size]
    return queue_rows(claims, kind="claim", actor=actor, now=now, policy=policy)


def transfer_queue(*, actor: Actor, now: dt.datetime, policy: Policy, size: int) -> list[QueueRow]:
    """Transfers offered to my teams, oldest first, with their paths' context."""
    transfers: QuerySet[Transfer] = transfers_waiting_for(actor=actor)[:size]
    return queue_rows(transfers, kind="transfer", actor=actor, now=now, policy=policy)
