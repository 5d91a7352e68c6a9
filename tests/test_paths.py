"""path_register, path_update, path_revoke and path_expire: who may, what they write,
what they refuse (and that a refusal changes nothing)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model

from registry import services
from registry.audit import verify_chain
from registry.models import (
    AccessPath,
    Attestation,
    Claim,
    Transfer,
)
from registry.rules import errors
from registry.rules.actors import Actor
from registry.rules.errors import Invalid, InvalidTransition, NotAllowed, StaleVersion
from registry.selectors import path_get
from tests.assertions import audit_write_fails, last_event, records, refused, snapshot
from tests.conftest import JUSTIFICATION, NOW, build_personas, path_data

pytestmark = pytest.mark.django_db

DAY = dt.timedelta(days=1)
CLAIM_REASON = "Our billing export job runs under this account every night."
REVOKE_REASON = "The billing export moved to workload identity in INC-4411."


# --- helpers ------------------------------------------------------------------------


def status_of(personas, path: AccessPath, now: dt.datetime = NOW) -> str:
    return path_get(actor=personas.sam, path_id=path.pk, now=now).status


def claim_for_payments(personas, path: AccessPath) -> Claim:
    return services.path_claim(
        actor=personas.pat, path=path, team=personas.teams.payments, reason=CLAIM_REASON, now=NOW
    )


def keep(actor: Actor, path: AccessPath, *, now: dt.datetime) -> Attestation:
    return services.path_attest(
        actor=actor,
        path=path,
        decision="keep",
        still_needed=True,
        justification_accurate=True,
        least_privilege=True,
        no_human_use=True,
        now=now,
    )


@pytest.fixture
def platform_member(personas) -> Actor:
    """A member of the platform team, which stewards the unowned path."""
    user = get_user_model().objects.create_user("pia", "pia@example.com", "x")
    services.membership_add(actor=personas.system, team=personas.teams.platform, user=user, now=NOW)
    return Actor.for_user(user)


# --- path_register ------------------------------------------------------------------


@pytest.mark.parametrize("who", ["pat", "lee", "payments_ci", "sam", "system"])
def test_register_owned_path(personas, who):
    actor = getattr(personas, who)
    with records("access_path.registered"):
        path = services.path_register(
            actor=actor, data=path_data(owner_team=personas.teams.payments), now=NOW
        )
    path.refresh_from_db()
    assert path.state == AccessPath.State.ACTIVE
    assert path.owner_team == personas.teams.payments
    assert path.version == 1
    assert path.review_interval_days == 90
    assert path.next_review_at == NOW + 90 * DAY
    assert path.expires_at == NOW + 180 * DAY
    event = last_event()
    assert event.actor_label == actor.label
    assert event.path_id == path.pk
    assert event.changes["owner_team"] == [None, "payments"]
    assert event.changes["state"] == [None, "active"]
    assert status_of(personas, path) == "active"


@pytest.mark.parametrize(
    ("tier", "interval_days", "expiry_days"),
    [("critical", 30, 90), ("high", 90, 180), ("medium", 180, 365), ("low", 365, 365)],
)
def test_register_takes_review_interval_and_expiry_from_risk_tier(
    make_path, tier, interval_days, expiry_days
):
    path = make_path(risk_tier=tier)
    assert path.review_interval_days == interval_days
    assert path.next_review_at == NOW + interval_days * DAY
    assert path.expires_at == NOW + expiry_days * DAY


def test_register_keeps_given_expiry_and_shorter_interval(make_path):
    path = make_path(expires_at=NOW + 30 * DAY, review_interval_days=14)
    assert path.expires_at == NOW + 30 * DAY
    assert path.review_interval_days == 14
    assert path.next_review_at == NOW + 14 * DAY


@pytest.mark.parametrize(
    ("who", "steward"),
    [("dana", None), ("payments_ci", None), ("sam", "platform"), ("system", "platform")],
)
def test_register_unowned_path(personas, who, steward):
    with records("access_path.registered"):
        path = services.path_register(
            actor=getattr(personas, who),
            data=path_data(
                steward_team=steward and getattr(personas.teams, steward),
                justification="",
                ticket_url="",
            ),
            now=NOW,
        )
    path.refresh_from_db()
    assert path.state == AccessPath.State.UNOWNED
    assert path.owner_team is None
    assert path.next_review_at is None
    assert path.expires_at is None
    assert status_of(personas, path) == "unowned"


@pytest.mark.parametrize(
    ("who", "team", "message"),
    [
        ("otto", "payments", errors.OUTSIDER),
        ("otto", None, errors.OUTSIDER),
        ("dana", "payments", errors.NOT_A_MEMBER_OF_TEAM),
        ("pat", "data", errors.NOT_A_MEMBER_OF_TEAM),
        ("lee", "data", errors.NOT_A_MEMBER_OF_TEAM),
        ("payments_ci", "data", errors.NOT_A_MEMBER_OF_TEAM),
    ],
)
def test_register_refused(personas, who, team, message):
    owner = getattr(personas.teams, team) if team else None
    with refused(NotAllowed, message):
        services.path_register(
            actor=getattr(personas, who), data=path_data(owner_team=owner), now=NOW
        )


def test_register_refuses_inactive_owner_team(personas):
    growth = personas.teams.growth
    services.team_deactivate(actor=personas.system, team=growth, reason="Team disbanded.", now=NOW)
    with refused(Invalid, errors.TEAM_INACTIVE) as exc:
        services.path_register(actor=personas.sam, data=path_data(owner_team=growth), now=NOW)
    assert exc.value.field == "owner_team"


@pytest.mark.parametrize("field", ["state", "version", "next_review_at", "owner", "secret"])
def test_register_refuses_unknown_fields(personas, field):
    with refused(Invalid, errors.UNKNOWN_FIELD) as exc:
        services.path_register(actor=personas.sam, data=path_data(**{field: "x"}), now=NOW)
    assert exc.value.errors == {field: [errors.UNKNOWN_FIELD]}


@pytest.mark.parametrize("field", ["name", "kind", "system", "environment"])
def test_register_requires_identity_fields(personas, field):
    with refused(Invalid, errors.REQUIRED) as exc:
        services.path_register(
            actor=personas.sam,
            data=path_data(owner_team=personas.teams.payments, **{field: ""}),
            now=NOW,
        )
    assert exc.value.errors == {field: [errors.REQUIRED]}


@pytest.mark.parametrize("field", ["justification", "ticket_url"])
def test_register_owned_path_requires_justification_and_ticket(personas, field):
    with refused(Invalid, errors.REQUIRED) as exc:
        services.path_register(
            actor=personas.pat,
            data=path_data(owner_team=personas.teams.payments, **{field: ""}),
            now=NOW,
        )
    assert exc.value.errors == {field: [errors.REQUIRED]}


@pytest.mark.parametrize(
    "url",
    ["http://tickets.example.com/SEC-1", "https://tickets.example.com/browse/SEC-1234?x=1"],
)
def test_register_accepts_http_and_https_tickets(make_path, url):
    assert make_path(ticket_url=url).ticket_url == url


NON_HTTP_TICKETS = [
    "ftp://tickets.example.com/SEC-1",
    "FTP://tickets.example.com/SEC-1",
    "javascript:alert(document.cookie)",
    "tickets.example.com/SEC-1",
    "mailto:a@b.c",
]


@pytest.mark.parametrize("url", NON_HTTP_TICKETS)
def test_register_refuses_ticket_url_without_http_scheme(personas, url):
    with refused(Invalid, errors.TICKET_URL_SCHEME) as exc:
        services.path_register(
            actor=personas.pat,
            data=path_data(owner_team=personas.teams.payments, ticket_url=url),
            now=NOW,
        )
    assert exc.value.errors == {"ticket_url": [errors.TICKET_URL_SCHEME]}


@pytest.mark.parametrize(
    "text", ["n/a", "N/A", "tbd", "TBD.", "needed", "  Needed!  ", "temp", "todo", "none"]
)
def test_register_refuses_placeholder_justification(personas, text):
    with refused(Invalid, errors.JUSTIFICATION_PLACEHOLDER) as exc:
        services.path_register(
            actor=personas.pat,
            data=path_data(owner_team=personas.teams.payments, justification=text),
            now=NOW,
        )
    assert exc.value.field == "justification"


@pytest.mark.parametrize("text", ["billing export job", "Used by the nightly jobs"])
def test_register_refuses_too_short_justification(personas, text):
    message = errors.JUSTIFICATION_TOO_SHORT.format(min_length=25, min_words=4)
    with refused(Invalid, message) as exc:
        services.path_register(
            actor=personas.pat,
            data=path_data(owner_team=personas.teams.payments, justification=text),
            now=NOW,
        )
    assert exc.value.field == "justification"


def test_register_refuses_placeholder_justification_on_unowned_path(personas):
    with refused(Invalid, errors.JUSTIFICATION_PLACEHOLDER):
        services.path_register(
            actor=personas.sam, data=path_data(justification="tbd", ticket_url=""), now=NOW
        )


SECRETS = [
    pytest.param("AKIAIOSFODNN7EXAMPLE", "AWS access key id", id="aws-key-id"),
    pytest.param("ghp_" + "a1B2c3D4e5" * 3 + "a1B2c3", "GitHub token", id="github-token"),
    pytest.param("xoxb-123456789012-abcdefABCDEF", "Slack token", id="slack-token"),
    pytest.param("-----BEGIN RSA PRIVATE KEY-----", "private key", id="private-key"),
    pytest.param(
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9P",
        "JSON Web Token",
        id="jwt",
    ),
]


@pytest.mark.parametrize(("secret", "kind"), SECRETS)
def test_register_refuses_secret_in_justification(personas, secret, kind):
    message = errors.LOOKS_LIKE_SECRET.format(kind=kind)
    text = f"The nightly billing export signs in with {secret} to read invoices."
    with refused(Invalid, message) as exc:
        services.path_register(
            actor=personas.pat,
            data=path_data(owner_team=personas.teams.payments, justification=text),
            now=NOW,
        )
    assert exc.value.errors == {"justification": [message]}


@pytest.mark.parametrize(
    "field", ["name", "consumers", "privilege_scope", "revocation_plan", "created_by_ref"]
)
@pytest.mark.parametrize(("secret", "kind"), SECRETS)
def test_register_refuses_secret_in_any_free_text_field(personas, field, secret, kind):
    message = errors.LOOKS_LIKE_SECRET.format(kind=kind)
    with refused(Invalid, message) as exc:
        services.path_register(
            actor=personas.pat,
            data=path_data(owner_team=personas.teams.payments, **{field: f"uses {secret}"}),
            now=NOW,
        )
    assert exc.value.errors == {field: [message]}


def test_register_accepts_text_that_only_mentions_credentials(make_path):
    text = "Deploy key for the billing repo; AWS access key rotated by Vault every 30 days."
    assert make_path(justification=text).justification == text


@pytest.mark.parametrize(
    ("expires_at", "message"),
    [
        (NOW - DAY, errors.EXPIRY_IN_PAST),
        (NOW, errors.EXPIRY_IN_PAST),
        (NOW + 731 * DAY, errors.EXPIRY_TOO_FAR.format(days=730)),
    ],
)
def test_register_refuses_expiry_out_of_range(personas, expires_at, message):
    with refused(Invalid, message) as exc:
        services.path_register(
            actor=personas.pat,
            data=path_data(owner_team=personas.teams.payments, expires_at=expires_at),
            now=NOW,
        )
    assert exc.value.field == "expires_at"


def test_register_accepts_expiry_at_the_maximum(make_path):
    assert make_path(expires_at=NOW + 730 * DAY).expires_at == NOW + 730 * DAY


def test_register_refuses_review_interval_longer_than_tier_allows(personas):
    message = errors.REVIEW_INTERVAL_TOO_LONG.format(days=90, tier="high")
    with refused(Invalid, message) as exc:
        services.path_register(
            actor=personas.pat,
            data=path_data(owner_team=personas.teams.payments, review_interval_days=91),
            now=NOW,
        )
    assert exc.value.field == "review_interval_days"


def test_register_refuses_zero_review_interval_on_its_field(personas):
    with refused(Invalid, "Ensure this value is greater than or equal to 1.") as exc:
        services.path_register(
            actor=personas.pat,
            data=path_data(owner_team=personas.teams.payments, review_interval_days=0),
            now=NOW,
        )
    assert list(exc.value.errors) == ["review_interval_days"]


def test_register_refuses_invalid_choice(personas):
    # No registry constant: Django's own choice validation speaks here.
    with refused(Invalid, "Value 'password' is not a valid choice.") as exc:
        services.path_register(
            actor=personas.pat,
            data=path_data(owner_team=personas.teams.payments, kind="password"),
            now=NOW,
        )
    assert list(exc.value.errors) == ["kind"]


def test_register_refuses_duplicate_external_id(make_path, personas):
    make_path(external_id="arn:aws:iam::1:user/billing")
    with refused(Invalid, errors.DUPLICATE_EXTERNAL_ID) as exc:
        services.path_register(
            actor=personas.pat,
            data=path_data(
                owner_team=personas.teams.payments, external_id="arn:aws:iam::1:user/billing"
            ),
            now=NOW,
        )
    assert exc.value.field == "external_id"


def test_register_allows_same_external_id_on_another_system(make_path):
    make_path(external_id="billing", system="aws")
    assert make_path(external_id="billing", system="github").system == "github"


# --- path_update --------------------------------------------------------------------

NEW_JUSTIFICATION = "The nightly billing export and the monthly ledger close read invoices."


@pytest.mark.parametrize("who", ["pat", "lee", "payments_ci", "sam", "system"])
def test_update_owned_path(personas, path, who):
    with records("access_path.updated"):
        updated = services.path_update(
            actor=getattr(personas, who),
            path=path,
            changes={"justification": NEW_JUSTIFICATION},
            expected_version=1,
            reason="Ledger close added in FIN-88.",
            now=NOW + DAY,
        )
    path.refresh_from_db()
    assert updated.version == path.version == 2
    assert path.justification == NEW_JUSTIFICATION
    assert path.updated_at == NOW + DAY
    event = last_event()
    assert event.changes == {"justification": [JUSTIFICATION, NEW_JUSTIFICATION]}
    assert event.reason == "Ledger close added in FIN-88."


@pytest.mark.parametrize(
    ("who", "message"),
    [
        ("otto", errors.OUTSIDER),
        ("dana", errors.NOT_A_MEMBER),
        ("data_ci", errors.NOT_A_MEMBER),
        ("platform_member", errors.NOT_A_MEMBER),
    ],
)
def test_update_refused(personas, path, platform_member, who, message):
    actor = {
        "data_ci": Actor.integration(personas.teams.data, token_id="tok_d", name="ci"),
        "platform_member": platform_member,
    }.get(who) or getattr(personas, who)
    with refused(NotAllowed, message):
        services.path_update(
            actor=actor, path=path, changes={"justification": NEW_JUSTIFICATION}, now=NOW
        )


@pytest.mark.parametrize("who", ["platform_member", "sam", "system"])
def test_update_unowned_path_by_steward_or_security(personas, unowned_path, platform_member, who):
    actor = platform_member if who == "platform_member" else getattr(personas, who)
    with records("access_path.updated"):
        services.path_update(
            actor=actor, path=unowned_path, changes={"consumers": "billing-export cron"}, now=NOW
        )
    unowned_path.refresh_from_db()
    assert unowned_path.consumers == "billing-export cron"
    assert unowned_path.version == 2


@pytest.mark.parametrize("who", ["pat", "lee", "payments_ci", "dana"])
def test_update_unowned_path_refused_to_non_stewards(personas, unowned_path, who):
    with refused(NotAllowed, errors.NOT_A_MEMBER):
        services.path_update(
            actor=getattr(personas, who),
            path=unowned_path,
            changes={"consumers": "billing-export cron"},
            now=NOW,
        )


@pytest.mark.parametrize(
    "field",
    ["owner_team", "state", "version", "next_review_at", "last_attested_at", "expiry_waiver"],
)
def test_update_refuses_lifecycle_and_unknown_fields(personas, path, field):
    with refused(Invalid, errors.UNKNOWN_FIELD) as exc:
        services.path_update(actor=personas.sam, path=path, changes={field: None}, now=NOW)
    assert exc.value.errors == {field: [errors.UNKNOWN_FIELD]}


def test_update_with_stale_version_is_refused(personas, path):
    services.path_update(actor=personas.pat, path=path, changes={"consumers": "cron"}, now=NOW)
    message = errors.STALE_VERSION.format(expected=1, actual=2)
    with refused(StaleVersion, message):
        services.path_update(
            actor=personas.lee,
            path=path,
            changes={"consumers": "airflow"},
            expected_version=1,
            now=NOW,
        )


def test_update_that_changes_nothing_writes_nothing(personas, path):
    before = snapshot()
    result = services.path_update(
        actor=personas.pat, path=path, changes={"name": path.name}, now=NOW
    )
    assert result.version == 1
    assert snapshot() == before


def test_update_risk_tier_moves_interval_and_next_review(personas, path):
    with records("access_path.updated"):
        services.path_update(
            actor=personas.pat, path=path, changes={"risk_tier": "critical"}, now=NOW + DAY
        )
    path.refresh_from_db()
    assert path.risk_tier == "critical"
    assert path.review_interval_days == 30
    assert path.next_review_at == NOW + 30 * DAY
    assert last_event().changes["review_interval_days"] == [90, 30]


def test_update_review_interval_counts_from_last_attestation(personas, path):
    keep(personas.pat, path, now=NOW + 10 * DAY)
    services.path_update(
        actor=personas.pat, path=path, changes={"review_interval_days": 30}, now=NOW + 11 * DAY
    )
    path.refresh_from_db()
    assert path.next_review_at == NOW + 40 * DAY


def test_update_expiry_within_limits(personas, path):
    # (a lead: a member's move past the policy window waits for one, test_change_requests)
    services.path_update(
        actor=personas.lee, path=path, changes={"expires_at": NOW + 400 * DAY}, now=NOW
    )
    path.refresh_from_db()
    assert path.expires_at == NOW + 400 * DAY


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"ticket_url": "ftp://tickets.example.com/1"}, "ticket_url", errors.TICKET_URL_SCHEME),
        ({"justification": "n/a"}, "justification", errors.JUSTIFICATION_PLACEHOLDER),
        ({"justification": "tbd"}, "justification", errors.JUSTIFICATION_PLACEHOLDER),
        ({"justification": ""}, "justification", errors.REQUIRED),
        ({"ticket_url": ""}, "ticket_url", errors.REQUIRED),
        (
            {"justification": "short text here"},
            "justification",
            errors.JUSTIFICATION_TOO_SHORT.format(min_length=25, min_words=4),
        ),
        (
            {"consumers": "ci job with AKIAIOSFODNN7EXAMPLE"},
            "consumers",
            errors.LOOKS_LIKE_SECRET.format(kind="AWS access key id"),
        ),
        ({"expires_at": NOW - DAY}, "expires_at", errors.EXPIRY_IN_PAST),
        (
            {"expires_at": NOW + 731 * DAY},
            "expires_at",
            errors.EXPIRY_TOO_FAR.format(days=730),
        ),
        ({"expires_at": None}, "expires_at", errors.EXPIRY_REQUIRED),
        (
            {"review_interval_days": 120},
            "review_interval_days",
            errors.REVIEW_INTERVAL_TOO_LONG.format(days=90, tier="high"),
        ),
    ],
)
def test_update_refuses_invalid_values(personas, path, changes, field, message):
    with refused(Invalid, message) as exc:
        services.path_update(actor=personas.pat, path=path, changes=changes, now=NOW)
    assert exc.value.errors == {field: [message]}


def test_update_refuses_zero_review_interval_on_its_field(personas, path):
    with refused(Invalid, "Ensure this value is greater than or equal to 1.") as exc:
        services.path_update(
            actor=personas.pat, path=path, changes={"review_interval_days": 0}, now=NOW
        )
    assert list(exc.value.errors) == ["review_interval_days"]


def test_update_refuses_secret_in_reason(personas, path):
    message = errors.LOOKS_LIKE_SECRET.format(kind="private key")
    with refused(Invalid, message):
        services.path_update(
            actor=personas.pat,
            path=path,
            changes={"consumers": "cron"},
            reason="rotated -----BEGIN OPENSSH PRIVATE KEY-----",
            now=NOW,
        )


def test_update_refuses_duplicate_external_id(personas, make_path, path):
    make_path(external_id="taken")
    with refused(Invalid, errors.DUPLICATE_EXTERNAL_ID):
        services.path_update(
            actor=personas.pat, path=path, changes={"external_id": "taken"}, now=NOW
        )


def test_update_revoked_path_is_refused(personas, path):
    services.path_revoke(actor=personas.lee, path=path, reason=REVOKE_REASON, now=NOW)
    with refused(InvalidTransition, errors.PATH_NOT_LIVE.format(state="revoked")):
        services.path_update(actor=personas.pat, path=path, changes={"consumers": "x"}, now=NOW)


def test_update_path_past_its_expiry_is_refused(personas, path):
    with refused(InvalidTransition, errors.PATH_NOT_LIVE.format(state="expired")):
        services.path_update(
            actor=personas.sam, path=path, changes={"consumers": "x"}, now=NOW + 181 * DAY
        )


# --- path_revoke --------------------------------------------------------------------


@pytest.mark.parametrize("who", ["pat", "lee", "sam", "system"])
def test_revoke(personas, path, who):
    with records("access_path.revoked"):
        services.path_revoke(
            actor=getattr(personas, who),
            path=path,
            reason=REVOKE_REASON,
            expected_version=1,
            now=NOW + DAY,
        )
    path.refresh_from_db()
    assert path.state == AccessPath.State.REVOKED
    assert path.state_changed_at == NOW + DAY
    assert path.version == 2
    assert last_event().reason == REVOKE_REASON
    assert last_event().changes["state"] == ["active", "revoked"]
    assert status_of(personas, path, NOW + DAY) == "awaiting_source"


@pytest.mark.parametrize(
    ("who", "message"),
    [
        ("payments_ci", errors.HUMAN_REQUIRED),
        ("otto", errors.OUTSIDER),
        ("dana", errors.NOT_A_MEMBER),
    ],
)
def test_revoke_refused(personas, path, who, message):
    with refused(NotAllowed, message):
        services.path_revoke(actor=getattr(personas, who), path=path, reason=REVOKE_REASON, now=NOW)


@pytest.mark.parametrize("reason", ["", "   "])
def test_revoke_requires_a_reason(personas, path, reason):
    with refused(Invalid, errors.REQUIRED) as exc:
        services.path_revoke(actor=personas.lee, path=path, reason=reason, now=NOW)
    assert exc.value.field == "reason"


def test_revoke_refuses_secret_in_reason(personas, path):
    message = errors.LOOKS_LIKE_SECRET.format(kind="Slack token")
    with refused(Invalid, message):
        services.path_revoke(
            actor=personas.lee, path=path, reason="leaked xoxb-1234567890-abcdef", now=NOW
        )


def test_revoke_twice_is_refused(personas, path):
    services.path_revoke(actor=personas.lee, path=path, reason=REVOKE_REASON, now=NOW)
    with refused(InvalidTransition, errors.PATH_NOT_LIVE.format(state="revoked")):
        services.path_revoke(actor=personas.sam, path=path, reason=REVOKE_REASON, now=NOW)


def test_revoke_with_stale_version_is_refused(personas, path):
    services.path_update(actor=personas.pat, path=path, changes={"consumers": "cron"}, now=NOW)
    with refused(StaleVersion, errors.STALE_VERSION.format(expected=1, actual=2)):
        services.path_revoke(
            actor=personas.lee, path=path, reason=REVOKE_REASON, expected_version=1, now=NOW
        )


@pytest.mark.parametrize("who", ["platform_member", "sam"])
def test_revoke_unowned_path_by_steward_or_security(personas, unowned_path, platform_member, who):
    actor = platform_member if who == "platform_member" else personas.sam
    services.path_revoke(actor=actor, path=unowned_path, reason=REVOKE_REASON, now=NOW)
    unowned_path.refresh_from_db()
    assert unowned_path.state == AccessPath.State.REVOKED


def test_revoke_unowned_path_refused_to_non_steward(personas, unowned_path):
    with refused(NotAllowed, errors.NOT_A_MEMBER):
        services.path_revoke(actor=personas.pat, path=unowned_path, reason=REVOKE_REASON, now=NOW)


def test_revoke_rejects_pending_claims(personas, unowned_path):
    claim = claim_for_payments(personas, unowned_path)
    with records("claim.rejected", "access_path.revoked"):
        services.path_revoke(actor=personas.sam, path=unowned_path, reason=REVOKE_REASON, now=NOW)
    claim.refresh_from_db()
    assert claim.status == Claim.Status.REJECTED
    assert claim.decision_reason == "The path was revoked."


def test_revoke_declines_pending_transfer(personas, path):
    transfer = services.path_transfer(
        actor=personas.lee,
        path=path,
        to_team=personas.teams.data,
        reason="Data now runs the export.",
        now=NOW,
    )
    with records("transfer.declined", "access_path.revoked"):
        services.path_revoke(actor=personas.lee, path=path, reason=REVOKE_REASON, now=NOW)
    transfer.refresh_from_db()
    assert transfer.status == Transfer.Status.DECLINED


# --- path_expire --------------------------------------------------------------------

AFTER_EXPIRY = NOW + 181 * DAY  # make_path's high-tier default expiry is NOW + 180 days


@pytest.mark.parametrize("who", ["sam", "system"])
def test_expire(personas, path, who):
    assert status_of(personas, path, AFTER_EXPIRY) == "awaiting_source"
    with records("access_path.expired"):
        services.path_expire(actor=getattr(personas, who), path=path, now=AFTER_EXPIRY)
    path.refresh_from_db()
    assert path.state == AccessPath.State.EXPIRED
    assert path.state_changed_at == AFTER_EXPIRY
    assert path.version == 2
    assert last_event().changes["state"] == ["active", "expired"]
    assert status_of(personas, path, AFTER_EXPIRY) == "awaiting_source"


@pytest.mark.parametrize("who", ["pat", "lee", "dana", "otto", "payments_ci"])
def test_expire_refused(personas, path, who):
    with refused(NotAllowed, errors.NOT_A_SECURITY_REVIEWER):
        services.path_expire(actor=getattr(personas, who), path=path, now=AFTER_EXPIRY)


def test_expire_before_expiry_is_refused(personas, path):
    with refused(InvalidTransition, errors.NOT_YET_EXPIRED):
        services.path_expire(actor=personas.system, path=path, now=NOW + 179 * DAY)


def test_expire_unowned_path_without_expiry_is_refused(personas, unowned_path):
    with refused(InvalidTransition, errors.NOT_YET_EXPIRED):
        services.path_expire(actor=personas.system, path=unowned_path, now=AFTER_EXPIRY)


def test_expire_revoked_path_is_refused(personas, path):
    services.path_revoke(actor=personas.lee, path=path, reason=REVOKE_REASON, now=NOW)
    with refused(InvalidTransition, errors.PATH_NOT_LIVE.format(state="revoked")):
        services.path_expire(actor=personas.system, path=path, now=AFTER_EXPIRY)


def test_expire_twice_is_refused(personas, path):
    services.path_expire(actor=personas.system, path=path, now=AFTER_EXPIRY)
    with refused(InvalidTransition, errors.PATH_NOT_LIVE.format(state="expired")):
        services.path_expire(actor=personas.system, path=path, now=AFTER_EXPIRY)


def test_expire_rejects_pending_claims(personas, make_path):
    path = make_path(owner_team=None, justification="", ticket_url="", expires_at=NOW + 10 * DAY)
    claim = claim_for_payments(personas, path)
    with records("claim.rejected", "access_path.expired"):
        services.path_expire(actor=personas.system, path=path, now=NOW + 11 * DAY)
    claim.refresh_from_db()
    assert claim.status == Claim.Status.REJECTED
    path.refresh_from_db()
    assert path.state == AccessPath.State.EXPIRED


# --- atomicity: a change and its audit event commit together or not at all ----------


def test_register_rolls_back_when_audit_write_fails(personas):
    before = snapshot()
    with audit_write_fails():
        services.path_register(
            actor=personas.pat, data=path_data(owner_team=personas.teams.payments), now=NOW
        )
    assert snapshot() == before
    assert not AccessPath.objects.exists()


def test_update_rolls_back_when_audit_write_fails(personas, path):
    before = snapshot()
    with audit_write_fails():
        services.path_update(actor=personas.pat, path=path, changes={"consumers": "x"}, now=NOW)
    assert snapshot() == before
    path.refresh_from_db()
    assert (path.consumers, path.version) == ("", 1)


def test_revoke_rolls_back_claims_and_state_when_its_event_cannot_be_written(
    personas, unowned_path
):
    claim_for_payments(personas, unowned_path)
    before = snapshot()
    # The claim's rejection may be written; the path's own event is refused.
    with audit_write_fails("access_path.revoked"):
        services.path_revoke(actor=personas.sam, path=unowned_path, reason=REVOKE_REASON, now=NOW)
    assert snapshot() == before
    unowned_path.refresh_from_db()
    assert unowned_path.state == AccessPath.State.CLAIM_PENDING
    assert verify_chain().intact


@pytest.mark.django_db(transaction=True)
def test_expire_rolls_back_in_a_real_transaction_when_audit_write_fails():
    personas = build_personas()
    path = services.path_register(
        actor=personas.system, data=path_data(owner_team=personas.teams.payments), now=NOW
    )
    before = snapshot()
    with audit_write_fails():
        services.path_expire(actor=personas.system, path=path, now=AFTER_EXPIRY)
    assert snapshot() == before
    path.refresh_from_db()
    assert path.state == AccessPath.State.ACTIVE
    assert path.version == 1
    assert verify_chain().intact


@pytest.mark.parametrize("who", ["dana", "payments_ci", "lee"])
def test_only_the_steward_team_or_security_names_a_steward_of_an_unowned_path(
    personas, make_path, who
):
    """The steward of an unowned path gets its reminders and escalations: that team
    takes the role on itself (issue 13). Others are refused, registering or editing."""
    actor = getattr(personas, who)
    message = errors.STEWARD_NOT_YOURS.format(team="Platform")
    with refused(NotAllowed, message):
        services.path_register(
            actor=actor,
            data=path_data(steward_team=personas.teams.platform, justification="", ticket_url=""),
            now=NOW,
        )


def test_a_steward_cannot_hand_an_unowned_path_to_another_team(personas, unowned_path):
    pia = get_user_model().objects.create_user("pia", "pia@example.com", "x")
    services.membership_add(actor=personas.system, team=personas.teams.platform, user=pia, now=NOW)
    with refused(NotAllowed, errors.STEWARD_NOT_YOURS.format(team="Data")):
        services.path_update(
            actor=Actor.for_user(pia),
            path=unowned_path,
            changes={"steward_team": personas.teams.data},
            now=NOW,
        )


def test_an_owner_names_the_platform_running_its_mechanism(personas, path):
    services.path_update(
        actor=personas.lee, path=path, changes={"steward_team": personas.teams.platform}, now=NOW
    )


def test_the_steward_team_names_itself(personas, path):
    platform_member = get_user_model().objects.create_user("pia", "pia@example.com", "x")
    services.membership_add(
        actor=personas.system, team=personas.teams.platform, user=platform_member, now=NOW
    )
    created = services.path_register(
        actor=Actor.for_user(platform_member),
        data=path_data(steward_team=personas.teams.platform, justification="", ticket_url=""),
        now=NOW,
    )
    assert created.steward_team == personas.teams.platform
