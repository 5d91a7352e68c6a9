"""path_update: who may change a path, what it writes, what it refuses (and that a
refusal changes nothing); who names a path's steward and platform; dates that record
what happened cannot be in the future."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model

from registry import services
from registry.models import AccessPath
from registry.rules import errors
from registry.rules.actors import Actor
from registry.rules.errors import Invalid, InvalidTransition, NotAllowed, StaleVersion
from tests.assertions import audit_write_fails, last_event, records, refused, snapshot
from tests.conftest import JUSTIFICATION, NOW, path_data
from tests.services.paths_helpers import DAY, REVOKE_REASON, keep

pytestmark = pytest.mark.django_db

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


def test_update_rolls_back_when_audit_write_fails(personas, path):
    before = snapshot()
    with audit_write_fails():
        services.path_update(actor=personas.pat, path=path, changes={"consumers": "x"}, now=NOW)
    assert snapshot() == before
    path.refresh_from_db()
    assert (path.consumers, path.version) == ("", 1)


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


# --- dates that record what happened cannot be in the future (issue 13) -----------------


# A `last_rotated_at` in 2036 would silence the rotation rule for a decade.
@pytest.mark.parametrize("field", ["last_rotated_at", "last_used_at"])
def test_a_future_date_is_refused_naming_the_field(personas, path, field):
    with pytest.raises(Invalid) as refusal:
        services.path_update(
            actor=personas.lee, path=path, changes={field: NOW + dt.timedelta(days=3650)}, now=NOW
        )
    assert refusal.value.errors == {field: [errors.DATE_IN_FUTURE]}
    assert getattr(AccessPath.objects.get(pk=path.pk), field) != NOW + dt.timedelta(days=3650)


def test_a_few_minutes_of_clock_skew_are_fine(personas, path):
    services.path_update(
        actor=personas.lee,
        path=path,
        changes={"last_used_at": NOW + dt.timedelta(minutes=2)},
        now=NOW,
    )
