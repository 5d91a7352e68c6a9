"""path_attest: a person of the owning team confirms a path should go on existing
(keep), shrinks it (reduce_scope) or ends it (revoke)."""

from __future__ import annotations

import datetime as dt

import pytest

from registry import services
from registry.audit import verify_chain
from registry.models import (
    AccessPath,
    Attestation,
    AuditEvent,
    Transfer,
)
from registry.rules import errors
from registry.rules.actors import Actor
from registry.rules.errors import Invalid, InvalidTransition, NotAllowed, StaleVersion
from registry.selectors import path_get
from tests.assertions import audit_write_fails, records, refused, snapshot
from tests.conftest import NOW

pytestmark = pytest.mark.django_db

DAY = dt.timedelta(days=1)
AT = NOW + 80 * DAY  # inside the review window of a high-risk path registered at NOW
CONFIRMED = {
    "still_needed": True,
    "justification_accurate": True,
    "least_privilege": True,
    "no_human_use": True,
}
REDUCE_NOTE = "Drop s3:PutObject; the export only reads the invoices bucket."


# --- helpers ------------------------------------------------------------------------


def status_of(personas, path: AccessPath, now: dt.datetime = AT) -> str:
    return path_get(actor=personas.sam, path_id=path.pk, now=now).status


def actor_named(personas, who: str) -> Actor:
    if who == "gwen":  # growth's lead: a lead, but of another team
        return Actor.for_user(personas.users.gwen)
    if who == "pat_token":
        return Actor.personal_token(personas.users.pat, token_id="tok_pat", name="laptop")
    return getattr(personas, who)


def attest(actor, path, decision="keep", *, now=AT, note="", **confirmations) -> Attestation:
    return services.path_attest(
        actor=actor,
        path=path,
        decision=decision,
        note=note,
        now=now,
        **(CONFIRMED | confirmations),
    )


# --- keep ---------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["pat", "lee", "pat_token"])
def test_keep(personas, path, who):
    actor = actor_named(personas, who)
    assert status_of(personas, path) == "review_due"
    with records("access_path.attested"):
        attestation = attest(actor, path, note="Checked with the export job owners.")
    attestation.refresh_from_db()
    assert attestation.decision == Attestation.Decision.KEEP
    assert attestation.team == personas.teams.payments
    assert attestation.attested_by == actor.user
    assert attestation.next_review_at == AT + 90 * DAY
    assert attestation.created_at == AT
    assert (attestation.still_needed, attestation.least_privilege) == (True, True)
    path.refresh_from_db()
    assert path.last_attested_at == AT
    assert path.next_review_at == AT + 90 * DAY
    assert path.state == AccessPath.State.ACTIVE
    assert path.version == 2
    event = AuditEvent.objects.order_by("-seq").first()
    assert event.actor_label == actor.label
    assert event.changes["decision"] == [None, "keep"]
    assert event.changes["next_review_at"] == [
        (NOW + 90 * DAY).isoformat(),
        (AT + 90 * DAY).isoformat(),
    ]
    assert status_of(personas, path) == "active"


@pytest.mark.parametrize(("tier", "interval_days"), [("critical", 30), ("low", 365)])
def test_keep_starts_a_cycle_of_the_risk_tiers_interval(personas, make_path, tier, interval_days):
    path = make_path(risk_tier=tier, expires_at=NOW + 700 * DAY)
    attest(personas.pat, path, now=NOW + 10 * DAY)
    path.refresh_from_db()
    assert path.next_review_at == NOW + (10 + interval_days) * DAY


def test_keep_brings_an_overdue_path_back_to_active(personas, path):
    overdue_at = NOW + 95 * DAY
    assert status_of(personas, path, overdue_at) == "overdue"
    attest(personas.lee, path, now=overdue_at)
    path.refresh_from_db()
    assert path.escalation_stage == 0
    assert status_of(personas, path, overdue_at) == "active"


def test_keep_with_matching_expected_version(personas, path):
    services.path_attest(
        actor=personas.pat, path=path, decision="keep", expected_version=1, now=AT, **CONFIRMED
    )
    path.refresh_from_db()
    assert path.version == 2


# --- reduce_scope -------------------------------------------------------------------


@pytest.mark.parametrize("least_privilege", [True, False])
def test_reduce_scope(personas, path, least_privilege):
    with records("access_path.attested"):
        attestation = attest(
            personas.pat, path, "reduce_scope", note=REDUCE_NOTE, least_privilege=least_privilege
        )
    assert attestation.decision == Attestation.Decision.REDUCE_SCOPE
    assert attestation.note == REDUCE_NOTE
    path.refresh_from_db()
    assert path.state == AccessPath.State.ACTIVE
    assert path.last_attested_at == AT
    assert path.next_review_at == AT + 90 * DAY
    assert AuditEvent.objects.order_by("-seq").first().reason == REDUCE_NOTE


@pytest.mark.parametrize("note", ["", "   "])
def test_reduce_scope_needs_a_note(personas, path, note):
    with refused(Invalid, errors.REDUCE_SCOPE_NEEDS_NOTE) as exc:
        attest(personas.pat, path, "reduce_scope", note=note)
    assert exc.value.field == "note"


# --- revoke -------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["pat", "lee"])
def test_revoke_at_attestation(personas, path, who):
    note = "The export moved to workload identity; nothing uses this any more."
    with records("access_path.attested", "access_path.revoked"):
        attestation = attest(
            actor_named(personas, who), path, "revoke", note=note, still_needed=False
        )
    assert attestation.decision == Attestation.Decision.REVOKE
    assert attestation.next_review_at is None
    path.refresh_from_db()
    assert path.state == AccessPath.State.REVOKED
    assert path.state_changed_at == AT
    revoked = AuditEvent.objects.order_by("-seq").first()
    assert revoked.reason == note
    assert revoked.changes["state"] == ["active", "revoked"]
    assert status_of(personas, path) == "awaiting_source"


def test_revoke_at_attestation_without_a_note_gives_a_default_reason(personas, path):
    attest(personas.pat, path, "revoke", still_needed=False, least_privilege=False)
    assert AuditEvent.objects.order_by("-seq").first().reason == "Revoked at attestation."


def test_revoke_at_attestation_declines_a_pending_transfer(personas, path):
    transfer = services.path_transfer(
        actor=personas.lee,
        path=path,
        to_team=personas.teams.data,
        reason="Data now runs the export.",
        now=NOW,
    )
    with records("access_path.attested", "transfer.declined", "access_path.revoked"):
        attest(personas.lee, path, "revoke", still_needed=False)
    transfer.refresh_from_db()
    assert transfer.status == Transfer.Status.DECLINED


# --- who may attest -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "message"),
    [
        ("payments_ci", errors.HUMAN_REQUIRED),
        ("system", errors.HUMAN_REQUIRED),
        ("otto", errors.OUTSIDER),
        ("dana", errors.NOT_A_MEMBER),
        ("sam", errors.NOT_A_MEMBER),
        ("gwen", errors.NOT_A_MEMBER),
    ],
)
@pytest.mark.parametrize("decision", ["keep", "revoke"])
def test_attest_refused(personas, path, who, message, decision):
    with refused(NotAllowed, message):
        attest(actor_named(personas, who), path, decision)


def test_security_team_integration_cannot_attest(personas, path):
    token = Actor.integration(personas.teams.security, token_id="tok_sec", name="scanner")
    with refused(NotAllowed, errors.HUMAN_REQUIRED):
        attest(token, path)


@pytest.fixture
def signoff_path(make_path) -> AccessPath:
    return make_path(requires_human_signoff=True)


def test_signoff_path_is_attested_by_a_lead(personas, signoff_path):
    with records("access_path.attested"):
        attest(personas.lee, signoff_path)
    signoff_path.refresh_from_db()
    assert signoff_path.last_attested_at == AT


@pytest.mark.parametrize(
    ("who", "message"),
    [
        ("pat", errors.LEAD_SIGNOFF_REQUIRED),
        ("pat_token", errors.LEAD_SIGNOFF_REQUIRED),
        ("payments_ci", errors.HUMAN_REQUIRED),
        ("sam", errors.NOT_A_MEMBER),
    ],
)
def test_signoff_path_refused_to_non_leads(personas, signoff_path, who, message):
    with refused(NotAllowed, message):
        attest(actor_named(personas, who), signoff_path)


def test_a_lead_may_lift_the_signoff_requirement(personas, signoff_path):
    services.path_update(
        actor=personas.lee,
        path=signoff_path,
        changes={"requires_human_signoff": False},
        now=NOW,
    )
    signoff_path.refresh_from_db()
    assert signoff_path.requires_human_signoff is False


@pytest.mark.parametrize("who", ["pat", "payments_ci"])
def test_only_a_lead_lifts_the_signoff_requirement_others_ask_one(personas, signoff_path, who):
    """On a high path a member's or a token's lift waits for a lead (change requests)."""
    saved = services.path_update(
        actor=actor_named(personas, who),
        path=signoff_path,
        changes={"requires_human_signoff": False},
        now=NOW,
    )
    assert saved.held_change.changes == {"requires_human_signoff": False}
    signoff_path.refresh_from_db()
    assert signoff_path.requires_human_signoff is True


def test_on_a_low_path_a_member_still_may_not_lift_it(personas, make_path):
    low = make_path(risk_tier="low", requires_human_signoff=True)
    with refused(NotAllowed) as exc:
        services.path_update(
            actor=personas.pat, path=low, changes={"requires_human_signoff": False}, now=NOW
        )
    assert exc.value.message in (errors.NOT_A_LEAD, errors.LEAD_SIGNOFF_REQUIRED)


def test_after_a_transfer_only_the_new_owner_attests(personas, path):
    transfer = services.path_transfer(
        actor=personas.lee,
        path=path,
        to_team=personas.teams.data,
        reason="Data now runs the export.",
        now=NOW,
    )
    services.transfer_accept(actor=personas.dana, transfer=transfer, now=NOW)
    with refused(NotAllowed, errors.NOT_A_MEMBER):
        attest(Actor.for_user(personas.users.pat), path)
    attest(Actor.for_user(personas.users.dana), path)


# --- illegal transitions ------------------------------------------------------------


def test_attesting_a_revoked_path_is_refused(personas, path):
    services.path_revoke(actor=personas.lee, path=path, reason="Decommissioned.", now=NOW)
    with refused(InvalidTransition, errors.PATH_NOT_LIVE.format(state="revoked")):
        attest(personas.lee, path)


def test_attesting_a_path_past_its_expiry_is_refused(personas, path):
    with refused(InvalidTransition, errors.PATH_NOT_LIVE.format(state="expired")):
        attest(personas.lee, path, now=NOW + 181 * DAY)


def test_attesting_an_expired_path_is_refused(personas, path):
    services.path_expire(actor=personas.system, path=path, now=NOW + 181 * DAY)
    with refused(InvalidTransition, errors.PATH_NOT_LIVE.format(state="expired")):
        attest(personas.lee, path, now=NOW + 182 * DAY)


@pytest.mark.parametrize("who", ["pat", "sam"])
def test_attesting_an_unowned_path_is_refused(personas, unowned_path, who):
    with refused(NotAllowed, errors.NOT_A_MEMBER):
        attest(actor_named(personas, who), unowned_path)


def test_attesting_with_a_stale_version_is_refused(personas, path):
    services.path_update(actor=personas.pat, path=path, changes={"consumers": "cron"}, now=NOW)
    with refused(StaleVersion, errors.STALE_VERSION.format(expected=1, actual=2)):
        services.path_attest(
            actor=personas.lee, path=path, decision="keep", expected_version=1, now=AT, **CONFIRMED
        )


# --- what an attestation must say ---------------------------------------------------


@pytest.mark.parametrize(
    "unconfirmed", ["justification_accurate", "least_privilege", "no_human_use"]
)
def test_keep_needs_every_confirmation(personas, path, unconfirmed):
    label = errors.ATTEST_CONFIRMATIONS[unconfirmed]
    message = errors.CONFIRMATIONS_MISSING.format(action="keep this path", missing=f"“{label}”")
    with refused(Invalid, message) as exc:
        attest(personas.pat, path, "keep", **{unconfirmed: False})
    assert exc.value.field == "decision"


def test_keep_with_nothing_ticked_names_every_missing_confirmation(personas, path):
    unticked = dict.fromkeys(errors.ATTEST_CONFIRMATIONS, False)
    missing = "; ".join(f"“{label}”" for label in errors.ATTEST_CONFIRMATIONS.values())
    message = errors.CONFIRMATIONS_MISSING.format(action="keep this path", missing=missing)
    with refused(Invalid, message):
        attest(personas.pat, path, "keep", **unticked)


@pytest.mark.parametrize(
    ("decision", "action"), [("keep", "keep this path"), ("reduce_scope", "reduce its scope")]
)
def test_still_needed_unticked_is_named(personas, path, decision, action):
    label = errors.ATTEST_CONFIRMATIONS["still_needed"]
    message = errors.CONFIRMATIONS_MISSING.format(action=action, missing=f"“{label}”")
    with refused(Invalid, message):
        attest(personas.pat, path, decision, note=REDUCE_NOTE, still_needed=False)


@pytest.mark.parametrize("decision", ["extend", "", "KEEP"])
def test_unknown_decision_is_refused(personas, path, decision):
    with refused(Invalid, "Choose one of: keep, reduce_scope, revoke.") as exc:
        attest(personas.pat, path, decision)
    assert exc.value.field == "decision"


@pytest.mark.parametrize(
    ("secret", "kind"),
    [
        ("AKIAIOSFODNN7EXAMPLE", "AWS access key id"),
        ("ghp_" + "Ab1" * 12, "GitHub token"),
        ("xoxb-123456789012-abcdefABCDEF", "Slack token"),
        ("-----BEGIN RSA PRIVATE KEY-----", "private key"),
        (
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_X",
            "JSON Web Token",
        ),
    ],
)
@pytest.mark.parametrize("decision", ["keep", "reduce_scope", "revoke"])
def test_secret_in_note_is_refused(personas, path, secret, kind, decision):
    message = errors.LOOKS_LIKE_SECRET.format(kind=kind)
    with refused(Invalid, message) as exc:
        attest(personas.pat, path, decision, note=f"rotated to {secret}")
    assert exc.value.errors == {"note": [message]}


# --- atomicity ----------------------------------------------------------------------


def test_keep_rolls_back_when_audit_write_fails(personas, path):
    before = snapshot()
    with audit_write_fails():
        attest(personas.pat, path)
    assert snapshot() == before
    assert not Attestation.objects.exists()
    path.refresh_from_db()
    assert path.last_attested_at is None
    assert path.version == 1


def test_revoke_decision_rolls_back_attestation_when_revocation_cannot_be_audited(personas, path):
    before = snapshot()
    # The attestation's own event may be written; the revocation's is refused, and with
    # it the attestation and its event must go.
    with audit_write_fails("access_path.revoked"):
        attest(personas.pat, path, "revoke", still_needed=False)
    assert snapshot() == before
    path.refresh_from_db()
    assert path.state == AccessPath.State.ACTIVE
    assert verify_chain().intact
