"""path_register: who may register a path, what it writes, what it refuses (and that a
refusal changes nothing)."""

from __future__ import annotations

import pytest

from registry import services
from registry.models import AccessPath
from registry.rules import errors
from registry.rules.errors import Invalid, NotAllowed
from tests.assertions import audit_write_fails, last_event, records, refused, snapshot
from tests.conftest import NOW, path_data
from tests.services.paths_helpers import DAY, status_of

pytestmark = pytest.mark.django_db

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


# --- atomicity: a change and its audit event commit together or not at all ----------


def test_register_rolls_back_when_audit_write_fails(personas):
    before = snapshot()
    with audit_write_fails():
        services.path_register(
            actor=personas.pat, data=path_data(owner_team=personas.teams.payments), now=NOW
        )
    assert snapshot() == before
    assert not AccessPath.objects.exists()
