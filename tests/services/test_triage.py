"""Triage: one lookup answers who to call about a credential; outsiders get routing only;
every lookup is audited and the team told; refusals; constant queries; the page and
the command."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from registry import services
from registry.models import AuditEvent, Membership, Notification, PolicyException
from registry.rules import errors
from registry.rules.errors import Invalid
from registry.services.identifiers import identifiers_set
from registry.services.tokens import token_create
from registry.services.triage import triage_lookup
from tests.conftest import NOW

pytestmark = pytest.mark.django_db

KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
FP = hashlib.sha256(SECRET.encode()).hexdigest()
GH_TOKEN = "ghp_" + "R8sYmZ3kVq2LwT9pXc4NbH6dJf1GaE0uKi7o"
LATER = NOW + dt.timedelta(hours=2)


@pytest.fixture
def leaked(personas, make_path):
    """A payments path with a key id and a fingerprint, an attestation and an exception."""
    path = make_path(
        revocation_plan="Deactivate the key in IAM, then rotate the CI secret.",
        rollback_plan="Re-enable the old key in IAM if the nightly job fails.",
        steward_team=personas.teams.platform,
    )
    identifiers_set(
        actor=personas.sam,
        path=path,
        identifiers=[("key_id", KEY), ("fingerprint", FP), ("principal", "arn:aws:iam::1:user/ci")],
        now=NOW,
    )
    services.path_attest(
        actor=personas.lee,
        path=path,
        decision="keep",
        still_needed=True,
        justification_accurate=True,
        least_privilege=True,
        no_human_use=True,
        now=NOW + dt.timedelta(minutes=5),
    )
    services.exception_request(
        actor=personas.pat,
        path=path,
        rule=PolicyException.Rule.NHI5_OVERPRIVILEGED,
        reason="The vendor API offers no narrower scope until its next release.",
        expires_at=NOW + dt.timedelta(days=30),
        now=NOW + dt.timedelta(minutes=6),
    )
    return path


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (KEY, None),
        (KEY, "key_id"),
        (FP, None),
        ("SHA256:" + FP.upper(), "fingerprint"),
        ("arn:aws:iam::1:user/ci", "principal"),
        ("ext-1", None),
        ("ext-1", "external_id"),
    ],
)
def test_every_kind_finds_the_path(personas, leaked, value, kind):
    answer = triage_lookup(actor=personas.pat, value=value, kind=kind, now=LATER)
    (match,) = answer.data["matches"]
    assert match["visible"] is True
    assert match["path"]["id"] == str(leaked.pk)


def test_the_full_answer(personas, leaked):
    data = triage_lookup(actor=personas.pat, value=KEY, now=LATER).data
    (match,) = data["matches"]
    assert data["query"] == {"kind": None, "value": KEY}
    assert match["path"]["status"] == "active"
    assert match["owning_team"]["slug"] == "payments"
    assert match["owning_team"]["email"] == "payments@example.com"
    assert match["owning_team"]["leads"] == [{"username": "lee", "email": "lee@example.com"}]
    assert match["steward_team"]["slug"] == "platform"
    assert match["route_to"]["slug"] == "payments"
    assert match["revocation_plan"].startswith("Deactivate the key")
    assert match["last_attestation"]["by"] == "lee"
    assert match["last_attestation"]["decision"] == "keep"
    assert [e["rule"] for e in match["open_exceptions"]] == ["nhi5_overprivileged"]
    # approval, revokers and control points (tests/rules/test_authority.py covers them)
    owners = match["control_point_owners"]
    assert owners["runtime"]["slug"] == "platform" and owners["runtime"]["source"] == "steward"
    assert owners["iam"] is None
    assert [t["slug"] for t in match["revokers"]] == ["payments"]
    assert match["authority_approved_by"]["by"] == "lee"
    assert match["incident_url"] == f"{settings.BASE_URL}/incidents/new/?identifier={KEY}"
    assert match["rollback"].startswith("Re-enable the old key")
    assert [t["slug"] for t in data["escalation_contacts"]] == ["security"]


@pytest.mark.parametrize("persona", ["otto", "dana"])
def test_a_match_outside_visibility_answers_routing_only(personas, leaked, persona):
    data = triage_lookup(actor=getattr(personas, persona), value=KEY, now=LATER).data
    (match,) = data["matches"]
    assert match == {
        "visible": False,
        "route_to": {
            "slug": "payments",
            "name": "Payments",
            "email": "payments@example.com",
            "channels": ["email"],
            "active": True,
        },
        "incident_url": f"{settings.BASE_URL}/incidents/new/?identifier={KEY}",
    }
    assert str(leaked.pk) not in json.dumps(data)


def test_integration_token_looks_up(personas, leaked):
    data = triage_lookup(actor=personas.payments_ci, value=FP, now=LATER).data
    assert data["matches"][0]["visible"] is True


def test_every_lookup_is_audited_and_the_team_told(personas, leaked):
    triage_lookup(actor=personas.otto, value=KEY, now=LATER)
    event = AuditEvent.objects.get(action="triage.looked_up")
    assert event.actor_label == "otto"
    assert event.path_id == leaked.pk
    assert event.changes["identifier"] == [None, KEY]
    assert event.changes["kind"] == [None, "any"]
    assert event.changes["matches"] == [None, [str(leaked.pk)]]
    assert event.changes["visible"] == [None, []]
    notice = Notification.objects.get(reason="triage")
    assert notice.team == personas.teams.payments and notice.path_id == leaked.pk
    assert notice.payload["looked_up_by"] == "otto"


def test_a_lookup_without_a_match_is_audited_too(personas):
    answer = triage_lookup(actor=personas.pat, value="AKIAZZZZZZZZZZZZZZZZ", now=LATER)
    assert answer.data["matches"] == [] and answer.data["escalation_contacts"] == []
    event = AuditEvent.objects.get(action="triage.looked_up")
    assert event.path_id is None and event.changes["matches"] == [None, []]
    assert not Notification.objects.filter(reason="triage").exists()


@pytest.mark.parametrize(
    ("value", "kind", "message"),
    [
        ("", None, errors.TRIAGE_NEEDS_A_VALUE),
        ("abc", "fingerprint", errors.IDENTIFIER_FINGERPRINT),
        ("x", "password", errors.IDENTIFIER_KIND.format(kind="password")),
    ],
)
def test_refusals(personas, value, kind, message):
    with pytest.raises(Invalid) as exc:
        triage_lookup(actor=personas.pat, value=value, kind=kind, now=LATER)
    assert message in [m for ms in exc.value.errors.values() for m in ms]
    assert not AuditEvent.objects.filter(action="triage.looked_up").exists()


def test_a_credential_is_refused_and_never_recorded(personas, leaked):
    client = APIClient()
    client.force_login(personas.users.pat)
    response = client.post(reverse("triage"), {"value": GH_TOKEN}, format="json")
    assert response.status_code == 400
    assert GH_TOKEN not in response.content.decode()
    assert "fingerprint" in response.json()["detail"]
    assert not AuditEvent.objects.filter(action="triage.looked_up").exists()


def test_api_answers_and_read_tokens_may_look_up(personas, leaked):
    _, secret = token_create(
        actor=personas.system, name="siem", scopes=["read"], team=personas.teams.security
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    response = client.post(reverse("triage"), {"value": FP, "kind": "fingerprint"}, format="json")
    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "no-store"
    assert response.json()["matches"][0]["path"]["id"] == str(leaked.pk)
    assert APIClient().post(reverse("triage"), {"value": FP}, format="json").status_code == 401


def test_queries_are_constant_in_matches_teams_and_leads(personas, make_path):
    User = get_user_model()

    def add(n: int, start: int) -> None:
        for i in range(start, start + n):
            team = services.team_create(
                actor=personas.system,
                data={"slug": f"t{i}", "name": f"T{i}", "email": f"t{i}@example.com"},
                now=NOW,
            )
            for j in range(2):
                lead = User.objects.create_user(f"lead{i}-{j}", f"l{i}{j}@example.com", "x")
                services.membership_add(
                    actor=personas.system,
                    team=team,
                    user=lead,
                    role=Membership.Role.LEAD,
                    now=NOW,
                )
            path = make_path(owner_team=team, steward_team=personas.teams.platform)
            identifiers_set(
                actor=personas.system,
                path=path,
                identifiers=[("principal", "shared-principal")],
                now=NOW,
            )

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            answer = triage_lookup(actor=personas.sam, value="shared-principal", now=LATER)
        return [q["sql"][:150] for q in queries.captured_queries], len(answer.data["matches"])

    assert personas.sam.team_ids  # the actor's teams are read once, before counting
    add(1, 0)
    one, matches = count()
    assert matches == 1
    add(4, 1)
    five, matches = count()
    assert matches == 5
    assert len(five) == len(one), "\n".join(["one:", *one, "five:", *five])


# --- the command and the page ---------------------------------------------------------


def test_command_prints_the_answer(personas, leaked):
    out = io.StringIO()
    call_command("triage", KEY, "--kind", "key_id", "--as", "pat", stdout=out)
    data = json.loads(out.getvalue())
    assert data["matches"][0]["path"]["id"] == str(leaked.pk)
    with pytest.raises(CommandError):
        call_command("triage", GH_TOKEN, "--as", "pat", stdout=io.StringIO())
    with pytest.raises(CommandError):
        call_command("triage", KEY, "--as", "nobody", stdout=io.StringIO())


def test_page_in_navigation_and_lookup(client, personas, leaked):
    client.force_login(personas.users.otto)
    page = client.get(reverse("registry:triage"))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'href="/triage/"' in html
    assert 'id="triage-secret"' in html and "js/triage.js" in html
    secret_tag = html[html.index('<textarea id="triage-secret"') :].split(">", 1)[0]
    assert "name=" not in secret_tag
    answer = client.post(reverse("registry:triage"), {"value": FP, "kind": "fingerprint"})
    assert answer.status_code == 200
    body = answer.content.decode()
    assert "payments@example.com" in body and leaked.name not in body
    refused = client.post(reverse("registry:triage"), {"value": GH_TOKEN})
    assert refused.status_code == 400
    assert GH_TOKEN not in refused.content.decode()


def test_page_shows_every_contact_for_a_visible_match(client, personas, leaked):
    client.force_login(personas.users.pat)
    body = client.post(reverse("registry:triage"), {"value": KEY}).content.decode()
    for text in (
        "Deactivate the key in IAM",  # revocation plan
        "Re-enable the old key",  # rollback
        "Approved by",
        "May revoke",
        "runtime: Platform",  # control points, the steward as runtime owner
        "iam: <strong>nobody</strong>",
        "lee@example.com",
        "It leaked: open an incident",
    ):
        assert text in body, text


def test_page_requires_sign_in(client):
    assert client.get(reverse("registry:triage")).status_code == 302
