"""The messages of registry/rules/errors.py about leak incidents and their intakes,
asserted through the incident services, the generic intake and GitHub's webhook (the
rest: test_error_messages.py)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from pathlib import Path

import pytest
from django.db.models import F
from django.urls import reverse
from rest_framework.test import APIClient

from registry import services
from registry.models import Incident
from registry.rules import errors
from registry.rules.errors import Invalid, InvalidTransition, NotAllowed, StaleVersion
from registry.services import incidents as incident_services
from registry.services.incident_intake import MAX_BODY_BYTES
from registry.services.tokens import token_create
from tests.conftest import NOW

pytestmark = pytest.mark.django_db

HOUR = dt.timedelta(hours=1)
SAMPLE = Path(__file__).parents[1] / "samples" / "github" / "secret_scanning_alert_created.json"
WEBHOOK_SECRET = "It's a Secret to Everybody"  # GitHub's documented example secret
LEAKED = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
GENERIC = {
    "source": "trufflehog",
    "alert_id": "th-981",
    "fingerprint": hashlib.sha256(LEAKED.encode()).hexdigest(),
    "detected_at": "2026-11-22T10:00:00Z",
    "url": "https://scanner.example.com/findings/981",
    "summary": "Found in a backup bucket.",
}


@pytest.fixture
def opened(personas, path) -> Incident:
    return services.incident_open(actor=personas.pat, path=path, summary="In a gist.", now=NOW)


def unchanged(incident: Incident) -> bool:
    now = Incident.objects.get(pk=incident.pk)
    return (now.state, now.version) == (incident.state, incident.version)


# --- the incident services --------------------------------------------------------------


def test_a_report_made_here_is_manual(personas, path):
    with pytest.raises(Invalid) as caught:
        services.incident_open(actor=personas.pat, path=path, detection="secret_scanning", now=NOW)
    assert (caught.value.field, caught.value.message) == (
        "detection",
        errors.INCIDENT_DETECTION_MANUAL,
    )
    assert not Incident.objects.exists()


def test_a_leak_cannot_be_detected_tomorrow(personas, path):
    with pytest.raises(Invalid) as caught:
        services.incident_open(actor=personas.pat, path=path, detected_at=NOW + 24 * HOUR, now=NOW)
    assert caught.value.errors == {"detected_at": [errors.INCIDENT_DETECTED_IN_FUTURE]}
    assert not Incident.objects.exists()


def test_a_report_names_a_path_or_an_identifier(personas):
    with pytest.raises(Invalid) as caught:
        services.incident_open(actor=personas.pat, identifier="  ", now=NOW)
    assert caught.value.errors == {"path": [errors.INCIDENT_NEEDS_A_TARGET]}


def test_the_alert_link_is_a_web_address(personas, path):
    with pytest.raises(Invalid) as caught:
        services.incident_open(
            actor=personas.pat, path=path, alert_url="javascript:alert(1)", now=NOW
        )
    assert caught.value.errors == {"alert_url": [errors.INCIDENT_URL]}


def test_only_the_owning_team_or_security_contains_it(personas, opened):
    with pytest.raises(NotAllowed) as caught:
        services.incident_contain(actor=personas.dana, incident=opened, now=NOW + HOUR)
    assert caught.value.message == errors.INCIDENT_NOT_YOURS
    assert unchanged(opened)


def test_only_an_open_incident_is_contained(personas, opened):
    contained = services.incident_contain(actor=personas.pat, incident=opened, now=NOW + HOUR)
    with pytest.raises(InvalidTransition) as caught:
        services.incident_contain(actor=personas.pat, incident=contained, now=NOW + 2 * HOUR)
    assert caught.value.message == errors.INCIDENT_NOT_OPEN.format(state="contained")


def test_a_stale_incident_version(personas, opened):
    with pytest.raises(StaleVersion) as caught:
        services.incident_contain(
            actor=personas.pat, incident=opened, expected_version=7, now=NOW + HOUR
        )
    assert caught.value.message == errors.INCIDENT_STALE.format(expected=7, actual=1)
    assert unchanged(opened)
    response = _api_as(personas.users.pat).post(
        reverse("incident-contain", args=[opened.pk]), {}, format="json", HTTP_IF_MATCH='W/"7"'
    )
    assert response.status_code == 412, response.content
    assert response.json()["detail"] == errors.INCIDENT_STALE.format(expected=7, actual=1)


def test_a_write_after_someone_elses_is_refused(personas, opened, monkeypatch):
    """Another writer commits between the row lock and the compare-and-set."""
    real_lock = incident_services._lock

    def lock_then_someone_else_writes(incident, expected_version):
        locked = real_lock(incident, expected_version)
        Incident.objects.filter(pk=incident.pk).update(version=F("version") + 1)
        return locked

    monkeypatch.setattr(incident_services, "_lock", lock_then_someone_else_writes)
    with pytest.raises(InvalidTransition) as caught:
        services.incident_contain(actor=personas.pat, incident=opened, now=NOW + HOUR)
    assert caught.value.message == errors.INCIDENT_CHANGED_CONCURRENTLY
    assert Incident.objects.get(pk=opened.pk).state == Incident.State.OPEN


def _api_as(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


# --- the generic intake -----------------------------------------------------------------


@pytest.fixture
def scanner(personas) -> APIClient:
    _, secret = token_create(
        actor=personas.system, name="scanner", scopes=["write"], team=personas.teams.security
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"secret": LEAKED}, "secret", errors.INCIDENT_SEND_A_FINGERPRINT),
        ({"token": LEAKED}, "token", errors.INCIDENT_SEND_A_FINGERPRINT),
        ({"source": "github"}, "source", errors.INCIDENT_SOURCE_RESERVED),
        ({"source": "GitHub"}, "source", errors.INCIDENT_SOURCE_RESERVED),
        ({"source": "no spaces please"}, "source", errors.INCIDENT_BAD_SOURCE),
        ({"source": "x" * 65}, "source", errors.INCIDENT_BAD_SOURCE),
        ({"url": "ftp://scanner.example.com/981"}, "alert_url", errors.INCIDENT_URL),
        (
            {"detected_at": "2999-01-01T00:00:00Z"},
            "detected_at",
            errors.INCIDENT_DETECTED_IN_FUTURE,
        ),
    ],
)
def test_the_generic_intake_says_what_is_wrong(scanner, change, field, message):
    response = scanner.post(reverse("incident-intake"), GENERIC | change, format="json")
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["errors"] == {field: [message]}
    assert body["detail"] == message
    assert LEAKED not in response.content.decode()
    assert not Incident.objects.exists()


# --- GitHub's webhook ---------------------------------------------------------------------


def deliver(body: bytes, *, event: str = "secret_scanning_alert"):
    digest = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return APIClient().post(
        reverse("incident-github"),
        data=body,
        content_type="application/json",
        HTTP_X_GITHUB_EVENT=event,
        HTTP_X_GITHUB_DELIVERY="d-1",
        HTTP_X_HUB_SIGNATURE_256=f"sha256={digest}",
    )


def test_the_webhook_without_a_secret_says_what_to_set(db, settings):
    settings.NHI_GITHUB_WEBHOOK_SECRET = ""
    response = deliver(SAMPLE.read_bytes())
    assert response.status_code == 503
    assert response.json() == {"detail": errors.WEBHOOK_SECRET_MISSING, "code": "unavailable"}


def test_the_webhook_refuses_a_body_too_large(db, settings):
    settings.NHI_GITHUB_WEBHOOK_SECRET = WEBHOOK_SECRET
    response = deliver(b" " * (MAX_BODY_BYTES + 1) + SAMPLE.read_bytes())
    assert response.status_code == 413
    assert response.json()["detail"] == errors.WEBHOOK_TOO_LARGE.format(limit=MAX_BODY_BYTES)
    assert not Incident.objects.exists()


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (json.dumps({"action": "created", "alert": {}}).encode(), "no alert or repository"),
        (
            json.dumps({"action": "created", "alert": {}, "repository": {}}).encode(),
            "the alert has no number or the repository no full_name",
        ),
    ],
    ids=["not-json", "not-an-object", "no-alert", "no-number"],
)
def test_the_webhook_names_what_is_wrong_with_the_payload(db, settings, body, why):
    settings.NHI_GITHUB_WEBHOOK_SECRET = WEBHOOK_SECRET
    response = deliver(body)
    assert response.status_code == 400, response.content
    assert response.json()["detail"] == errors.WEBHOOK_BAD_PAYLOAD.format(why=why)
    assert not Incident.objects.exists()
