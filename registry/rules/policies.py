"""Review, reminder and escalation policy. Defaults from DESIGN.md; override any key
through the NHI_POLICY setting (a dict with the same keys)."""

from __future__ import annotations

import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

# What a broken posture rule does to a request (rules/enforcement.py): tell the caller,
# require an approved exception for it, or refuse the request.
INFORM, EXCEPTION, REFUSE = "inform", "exception", "refuse"
ENFORCEMENT_LEVELS = (INFORM, EXCEPTION, REFUSE)


def _default_enforcement() -> dict[str, str]:
    """The rules whose level is not INFORM (PolicyException.Rule's codes; this module is
    read by the settings, before the models: registry/checks.py refuses an unknown
    code). Refuse what must never be created (a static agent credential); hold for an
    approved exception what needs a person's judgement; inform about the rest."""
    return {
        "nhi7_agent_static": REFUSE,
        "nhi5_overprivileged": EXCEPTION,
        "nhi10_human_use": EXCEPTION,
        "nhi6_static_not_workload": EXCEPTION,
        "missing_signoff_policy": EXCEPTION,
        "missing_provenance": EXCEPTION,
    }


@dataclass(frozen=True)
class Policy:
    review_interval_days: dict[str, int] = field(
        default_factory=lambda: {"critical": 30, "high": 90, "medium": 180, "low": 365}
    )
    # A new owner who gives no expiry gets this one; shorter for riskier paths.
    default_expiry_days: dict[str, int] = field(
        default_factory=lambda: {"critical": 90, "high": 180, "medium": 365, "low": 365}
    )
    # Further ahead than this is "never" in disguise and needs a no-expiry exception.
    max_expiry_days: int = 730
    max_exception_days: int = 365
    reminder_offsets_days: tuple[int, ...] = (14, 7, 1)
    # Overdue ladder: days after the due date at which each stage starts.
    # Stage 1 the owning team, 2 its leads, 3 security, 4 lapsed.
    escalation_days: tuple[int, ...] = (0, 3, 7, 14)
    unclaimed_escalation_days: int = 7
    claim_reminder_days: int = 3
    # How many claims (and, separately, exceptions) one team may have waiting for
    # security at once: a script or token cannot bury the review queue.
    max_pending_requests_per_team: int = 25
    transfer_reminder_days: int = 7
    # Delivery: a leased notification is retried after the lease if its worker died;
    # a failed one after base * 2^(attempts-1) seconds, capped; dead after max attempts.
    # The lease must outlast the longest send allowed (check_delivery_lease).
    delivery_lease_seconds: int = 300
    delivery_backoff_base_seconds: int = 60
    delivery_backoff_cap_seconds: int = 6 * 3600
    delivery_max_attempts: int = 8
    delivery_batch_size: int = 500
    justification_min_length: int = 25
    justification_min_words: int = 4
    # Posture: a long-lived or static credential with no declared rotation_days is due
    # for rotation this long after its last rotation (or creation) (NHI7).
    default_rotation_days: int = 180
    # Posture: a credential unused for this long is a stale record (likely dead access).
    stale_after_days: int = 90
    # The dashboard's "expiring soon" window and its charts' span.
    expiring_soon_days: int = 30
    dashboard_weeks: int = 12
    # Leak incidents climb in hours: stage 1 the owning team at detection, 2 its leads
    # after 1 h, 3 security after 4 h (services/incident_ladder.py).
    incident_escalation_hours: tuple = (0, 1, 4)
    # A path revoked or expired here without confirmation that the credential is
    # disabled at the source enters security's queue this long after (services/source_sweep).
    source_confirmation_hours: int = 24
    # Policy at request time: each posture rule's enforcement level (ENFORCEMENT_LEVELS);
    # a rule not named here is INFORM. An override names only the rules it changes.
    enforcement: dict[str, str] = field(default_factory=_default_enforcement)
    # Leases of just-in-time issuers: raw leases are kept this long (their hourly
    # rollups for good); a lease over the issuer's maximum flags it this long; one
    # bulk request records at most this many.
    lease_retention_days: int = 7
    lease_overrun_window_days: int = 30
    max_leases_per_request: int = 5000

    @property
    def review_window(self) -> timedelta:
        """How long before the due date a path counts as review_due (first reminder)."""
        return timedelta(days=max(self.reminder_offsets_days))

    @property
    def lapse_after(self) -> timedelta:
        """How long past the due date an unattested path becomes lapsed."""
        return timedelta(days=self.escalation_days[-1])

    def escalation_stage_for(self, overdue_by: timedelta) -> int:
        """The ladder stage (1-4) a path overdue by `overdue_by` has reached."""
        return sum(1 for days in self.escalation_days if overdue_by >= timedelta(days=days))

    def incident_stage_for(self, elapsed: timedelta) -> int:
        """The incident ladder stage (1-3) reached `elapsed` after detection."""
        return sum(1 for h in self.incident_escalation_hours if elapsed >= timedelta(hours=h))

    def reminder_offset_for(self, due_in: timedelta) -> int | None:
        """The reminder (days before) due now for a date `due_in` away: the nearest
        offset not yet passed, so a sweep that missed the 14-day mark sends the 7-day
        one and never both."""
        applicable = [d for d in self.reminder_offsets_days if due_in <= timedelta(days=d)]
        return min(applicable) if applicable else None

    def retry_delay(self, attempts: int) -> timedelta:
        seconds = self.delivery_backoff_base_seconds * 2 ** max(attempts - 1, 0)
        return timedelta(seconds=min(seconds, self.delivery_backoff_cap_seconds))

    def enforcement_for(self, code: str) -> str:
        return self.enforcement.get(code, INFORM)

    def interval_for(self, risk_tier: str) -> int:
        return self.review_interval_days[risk_tier]

    def default_expiry_for(self, risk_tier: str) -> timedelta:
        return timedelta(days=self.default_expiry_days[risk_tier])

    def rotation_due_at(
        self,
        *,
        credential_lifetime: str,
        rotation_days: int | None,
        last_rotated_at: datetime | None,
        created_at: datetime,
    ) -> datetime | None:
        """When a credential must next be rotated; None for ephemeral and short-lived
        ones, which rotate by construction."""
        if credential_lifetime not in ("long_lived", "static"):
            return None
        days = rotation_days or self.default_rotation_days
        return (last_rotated_at or created_at) + timedelta(days=days)


def current_policy() -> Policy:
    overrides = getattr(settings, "NHI_POLICY", None) or {}
    return Policy(**overrides)


# Ladders: one number per stage, in ascending order (a stage starts after the one before).
_LADDERS = frozenset({"escalation_days", "incident_escalation_hours"})


def _whole_number(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _refuse(source: str, key: str, expected: str, value: Any) -> ImproperlyConfigured:
    return ImproperlyConfigured(f"{source}: {key!r} must be {expected}; got {value!r}.")


def _checked(source: str, key: str, value: Any, hint: Any, default: Any) -> Any:
    """`value` as the Policy field `key` (of type `hint`) holds it, or ImproperlyConfigured."""
    kind = typing.get_origin(hint) or hint
    if kind is int:
        if not _whole_number(value):
            raise _refuse(source, key, "a whole number, 0 or more", value)
        return value
    if kind is dict and key == "enforcement":
        return _checked_enforcement(source, value, default)
    if kind is dict:
        tiers = ", ".join(default)
        if not isinstance(value, Mapping):
            raise _refuse(source, key, f"an object of days by risk tier ({tiers})", value)
        for tier, days in value.items():
            if tier not in default:
                raise ImproperlyConfigured(
                    f"{source}: {key!r} names an unknown risk tier {tier!r}; known: {tiers}."
                )
            if not _whole_number(days):
                raise _refuse(source, f"{key}.{tier}", "a whole number, 0 or more", days)
        return {**default, **value}  # a tier left out keeps its default
    if kind is tuple:
        if key in _LADDERS:
            ladder = f"a list of {len(default)} strictly ascending whole numbers, one per stage"
            if (
                not isinstance(value, list | tuple)
                or len(value) != len(default)
                or not all(_whole_number(item) for item in value)
                or any(later <= earlier for earlier, later in pairwise(value))
            ):
                raise _refuse(source, key, ladder, value)
        elif (
            not isinstance(value, list | tuple)
            or not value
            or not all(_whole_number(item) for item in value)
        ):
            raise _refuse(source, key, "a non-empty list of whole numbers, 0 or more", value)
        return tuple(value)
    raise TypeError(f"Policy.{key}: no check for {hint!r}")  # a new kind of field


def _checked_enforcement(source: str, value: Any, default: dict[str, str]) -> dict[str, str]:
    levels = ", ".join(ENFORCEMENT_LEVELS)
    if not isinstance(value, Mapping):
        raise _refuse(source, "enforcement", f"an object of levels ({levels}) by rule", value)
    for code, level in value.items():
        if level not in ENFORCEMENT_LEVELS:
            raise _refuse(source, f"enforcement.{code}", f"one of {levels}", level)
    return {**default, **value}


def policy_overrides(overrides: Any, *, source: str = "NHI_POLICY") -> dict[str, Any]:
    """`overrides` (the NHI_POLICY environment variable's JSON, say) checked against
    Policy and turned into what its fields hold: the NHI_POLICY setting. Lists become
    tuples; a per-risk-tier object may name only some tiers (the others keep their
    defaults). An unknown key or a value of the wrong type is ImproperlyConfigured
    naming the key, so a deployment with a typo stops at start-up."""
    if not isinstance(overrides, Mapping):
        raise ImproperlyConfigured(
            f"{source} must be a JSON object of policy keys; got {overrides!r}."
        )
    hints = typing.get_type_hints(Policy)
    defaults = Policy()
    known = {f.name for f in fields(Policy)}
    checked: dict[str, Any] = {}
    for key, value in overrides.items():
        if key not in known:
            raise ImproperlyConfigured(
                f"{source}: unknown key {key!r}; the policy's keys are {', '.join(sorted(known))}."
            )
        checked[key] = _checked(source, key, value, hints[key], getattr(defaults, key))
    return checked


def policy_from_mapping(overrides: Any, *, source: str = "NHI_POLICY") -> Policy:
    """The Policy that `overrides` (checked by `policy_overrides`) makes of the defaults."""
    return Policy(**policy_overrides(overrides, source=source))


# --- delivery timing (services/delivery.py, notifications/outbox.py) ---------------------

# A lease is renewed just before its digest is sent, and must still hold when the send
# has ended and the rows are marked sent: at least the longest send allowed plus this.
DELIVERY_LEASE_MARGIN_SECONDS = 5
# A run gives up marking a sent digest this long before its lease ends, so that worker
# clocks a little apart cannot let another run take (and re-send) rows still being marked.
DELIVERY_CLOCK_ALLOWANCE_SECONDS = 2
# A run stops taking new digests this long (plus the longest send) before its task's
# soft time limit, so the limit does not interrupt a send.
DELIVERY_STOP_MARGIN_SECONDS = 10

WEBHOOK_CHANNEL = "webhook"  # Notification.Channel.WEBHOOK: events go out at once


def delivery_send_seconds(*, smtp_total_seconds: float, outbound_total_seconds: float) -> float:
    """The longest one digest's send may take: every channel's total deadline."""
    return float(max(smtp_total_seconds, outbound_total_seconds))


def check_delivery_lease(
    *, lease_seconds: int, smtp_total_seconds: float, outbound_total_seconds: float
) -> None:
    """Refuse a lease that a send allowed by the deadlines could outlive: another run
    would then take the rows while they are being sent, and send them again."""
    send = delivery_send_seconds(
        smtp_total_seconds=smtp_total_seconds, outbound_total_seconds=outbound_total_seconds
    )
    if lease_seconds < send + DELIVERY_LEASE_MARGIN_SECONDS:
        raise ImproperlyConfigured(
            f"delivery_lease_seconds ({lease_seconds}) must be at least the longest send "
            f"allowed, max(NHI_SMTP_TOTAL_SECONDS={smtp_total_seconds:g}, "
            f"NHI_OUTBOUND_TOTAL_SECONDS={outbound_total_seconds:g}), plus "
            f"{DELIVERY_LEASE_MARGIN_SECONDS} s: at least {send + DELIVERY_LEASE_MARGIN_SECONDS:g}."
        )


def delivery_mark_window(*, lease_seconds: int) -> float:
    """How long after renewing a digest's lease a run may keep trying to mark it sent
    (through a database outage). Past it the lease may run out and the digest be sent
    again: the duplicate window (docs: a digest is re-sent only when the database stays
    away from the moment its send succeeded until this point)."""
    return float(lease_seconds - DELIVERY_CLOCK_ALLOWANCE_SECONDS)


def delivery_run_budget(*, soft_limit_seconds: float | None, send_seconds: float) -> float | None:
    """Seconds after which a delivery run takes no new digest (None: no limit)."""
    if not soft_limit_seconds:
        return None
    return max(soft_limit_seconds - send_seconds - DELIVERY_STOP_MARGIN_SECONDS, 0.0)


def delivery_due_at(*, channel: str, queued_at: datetime, coalesce_seconds: int) -> datetime:
    """When a new notification is first due. People's channels wait for the end of the
    current `coalesce_seconds` slot of the clock, so that everything queued for one
    recipient within a slot leaves as one digest (a burst of writes, each kicking a
    delivery, would otherwise send one message per write); event webhooks go at once."""
    if channel == WEBHOOK_CHANNEL or coalesce_seconds <= 0:
        return queued_at
    whole = int(queued_at.timestamp())  # floor for the positive times we have
    return datetime.fromtimestamp(whole - whole % coalesce_seconds + coalesce_seconds, tz=UTC)
