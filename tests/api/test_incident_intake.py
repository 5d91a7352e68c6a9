"""Alert intakes: GitHub's secret_scanning_alert webhook with a real signed payload
(valid, bad or missing signature, no secret configured, ping, other events, unmatched,
duplicate deliveries, a resolved alert) and the generic JSON intake for other scanners."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from pathlib import Path

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from registry.models import AuditEvent, Incident, Notification
from registry.rules import errors
from registry.services.identifiers import identifiers_set
from registry.services.security import REQUEST_REFUSED
from registry.services.tokens import token_create
from tests.conftest import NOW

pytestmark = pytest.mark.django_db

SAMPLE = Path(__file__).parents[1] / "samples" / "github" / "secret_scanning_alert_created.json"
WEBHOOK_SECRET = "It's a Secret to Everybody"  # GitHub's documented example secret
LEAKED = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
FP = hashlib.sha256(LEAKED.encode()).hexdigest()
GH_TOKEN = "ghp_" + "R8sYmZ3kVq2LwT9pXc4NbH6dJf1GaE0uKi7o"


@pytest.fixture(autouse=True)
def configured(settings):
    settings.NHI_GITHUB_WEBHOOK_SECRET = WEBHOOK_SECRET


@pytest.fixture
def keyed(personas, path):
    identifiers_set(actor=personas.sam, path=path, identifiers=[("fingerprint", FP)], now=NOW)
    return path


def sample(**changes) -> dict:
    payload = json.loads(SAMPLE.read_text())
    payload = copy.deepcopy(payload)
    for key, value in changes.items():
        if key == "action":
            payload["action"] = value
        else:
            payload["alert"][key] = value
    return payload


def deliver(body: bytes, *, event="secret_scanning_alert", signature=None, delivery="d-1"):
    if signature is None:
        digest = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
        signature = f"sha256={digest}"
    headers = {"HTTP_X_GITHUB_EVENT": event, "HTTP_X_GITHUB_DELIVERY": delivery}
    if signature:
        headers["HTTP_X_HUB_SIGNATURE_256"] = signature
    return APIClient().post(
        reverse("incident-github"), data=body, content_type="application/json", **headers
    )


def test_a_signed_alert_with_the_secret_opens_a_matched_incident(personas, keyed):
    body = json.dumps(sample(secret=LEAKED)).encode()
    response = deliver(body)
    assert response.status_code == 201, response.content
    incident = Incident.objects.get()
    assert response.json() == {"incident": incident.pk, "created": True, "matched": True}
    assert incident.path == keyed and incident.matched_by == "fingerprint"
    assert (incident.source, incident.external_ref) == ("github", "acme/billing#42")
    assert incident.detection == "secret_scanning"
    assert incident.secret_type == "Amazon AWS Access Key ID"
    assert incident.alert_url == "https://github.com/acme/billing/security/secret-scanning/42"
    assert incident.detected_at.isoformat() == "2026-11-22T11:30:00+00:00"
    assert Notification.objects.filter(reason="incident", team=personas.teams.payments).exists()
    # The value was used to compute the fingerprint, and kept nowhere.
    stored = json.dumps(list(AuditEvent.objects.values("changes", "reason")), default=str)
    stored += json.dumps(list(Incident.objects.values()), default=str)
    assert LEAKED not in stored and FP in stored


def test_the_sample_as_github_sends_it_is_unmatched_and_kept(personas, keyed):
    response = deliver(SAMPLE.read_bytes())
    assert response.status_code == 201
    incident = Incident.objects.get()
    assert incident.path is None and response.json()["matched"] is False
    assert "acme/billing" in incident.summary


def test_a_duplicate_delivery_changes_nothing(personas, keyed):
    body = json.dumps(sample(secret=LEAKED)).encode()
    assert deliver(body).status_code == 201
    events, notices = AuditEvent.objects.count(), Notification.objects.count()
    again = deliver(body)
    assert again.status_code == 200 and again.json()["created"] is False
    assert Incident.objects.count() == 1
    assert (AuditEvent.objects.count(), Notification.objects.count()) == (events, notices)


def test_a_resolved_alert_is_recorded_and_does_not_close_the_incident(personas, keyed):
    deliver(json.dumps(sample(secret=LEAKED)).encode())
    resolved = sample(action="resolved", state="resolved", resolution="revoked")
    response = deliver(json.dumps(resolved).encode(), delivery="d-2")
    assert response.status_code == 200
    incident = Incident.objects.get()
    assert incident.state == "open" and incident.version == 2
    event = AuditEvent.objects.get(action="incident.alert_updated")
    assert event.changes["alert_action"] == [None, "resolved"]
    assert event.changes["resolution"] == [None, "revoked"]


@pytest.mark.parametrize(
    "signature", ["", "sha256=" + "0" * 64, "sha1=abc", "sha256=not-hex"], ids=str
)
def test_a_bad_or_missing_signature_is_401_and_a_security_event(personas, signature):
    response = deliver(SAMPLE.read_bytes(), signature=signature)
    assert response.status_code == 401
    assert response.json()["detail"] == errors.WEBHOOK_BAD_SIGNATURE
    assert not Incident.objects.exists()
    event = AuditEvent.objects.get(action=REQUEST_REFUSED)
    assert event.changes["status"] == [None, 401]
    assert event.changes["target"] == [None, "delivery:d-1"]


def test_a_body_changed_after_signing_is_refused(personas):
    body = SAMPLE.read_bytes()
    digest = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    tampered = body.replace(b"acme/billing", b"acme/evil!!")
    assert deliver(tampered, signature=f"sha256={digest}").status_code == 401


def test_no_secret_configured_is_503(personas, settings):
    settings.NHI_GITHUB_WEBHOOK_SECRET = ""
    response = deliver(SAMPLE.read_bytes())
    assert response.status_code == 503
    assert "NHI_GITHUB_WEBHOOK_SECRET" in response.json()["detail"]


def test_ping_and_other_events(personas):
    ping = json.dumps({"zen": "Keep it logically awesome.", "hook_id": 1}).encode()
    assert deliver(ping, event="ping").status_code == 200
    assert deliver(SAMPLE.read_bytes(), event="push").status_code == 202
    assert not Incident.objects.exists()


def test_a_malformed_payload_is_400_naming_it(personas):
    assert deliver(b"not json").status_code == 400
    response = deliver(json.dumps({"action": "created", "alert": {}}).encode())
    assert response.status_code == 400 and "body" in response.json()["errors"]


def test_an_oversized_body_is_refused(personas):
    body = b" " * (300 * 1024) + SAMPLE.read_bytes()
    assert deliver(body).status_code == 413


def test_the_webhook_needs_no_csrf_token(personas):
    client = APIClient(enforce_csrf_checks=True)
    body = SAMPLE.read_bytes()
    digest = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    response = client.post(
        reverse("incident-github"),
        data=body,
        content_type="application/json",
        HTTP_X_GITHUB_EVENT="secret_scanning_alert",
        HTTP_X_HUB_SIGNATURE_256=f"sha256={digest}",
    )
    assert response.status_code == 201


# --- the generic intake ------------------------------------------------------------------


def scanner(personas, scopes=("write",)) -> APIClient:
    _, secret = token_create(
        actor=personas.system, name="scanner", scopes=list(scopes), team=personas.teams.security
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


GENERIC = {
    "source": "trufflehog",
    "alert_id": "th-981",
    "fingerprint": FP,
    "detected_at": "2026-11-22T10:00:00Z",
    "url": "https://scanner.example.com/findings/981",
    "secret_type": "AWS",
    "location": "s3://backups/env.txt",
    "summary": "Found in a backup bucket.",
}


def test_the_generic_intake_opens_and_updates(personas, keyed):
    client = scanner(personas)
    url = reverse("incident-intake")
    created = client.post(url, GENERIC, format="json")
    assert created.status_code == 201, created.content
    incident = Incident.objects.get()
    assert incident.path == keyed and incident.source == "trufflehog"
    assert incident.location == "s3://backups/env.txt"
    again = client.post(url, GENERIC | {"action": "resolved"}, format="json")
    assert again.status_code == 200 and again.json() == {
        "incident": incident.pk,
        "created": False,
        "matched": True,
    }
    assert AuditEvent.objects.filter(action="incident.alert_updated").count() == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"secret": LEAKED}, "secret"),
        ({"summary": f"token {GH_TOKEN}"}, "summary"),
        ({"location": GH_TOKEN}, "location"),
        ({"alert_id": ""}, "alert_id"),
        ({"detected_at": "yesterday"}, "detected_at"),
        ({"source": "github"}, "source"),
        ({"source": "no spaces please"}, "source"),
        ({"identifier": GH_TOKEN, "fingerprint": ""}, "value"),
        ({"fingerprint": "abc"}, "value"),
        ({"colour": "red"}, "colour"),
        ({"url": "ftp://x.example.com/"}, "alert_url"),
    ],
)
def test_the_generic_intake_refuses_bad_fields_by_name(personas, keyed, change, field):
    response = scanner(personas).post(reverse("incident-intake"), GENERIC | change, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]
    assert LEAKED not in response.content.decode() and GH_TOKEN not in response.content.decode()
    assert not Incident.objects.exists()


def test_the_generic_intake_needs_a_write_token(personas):
    url = reverse("incident-intake")
    assert scanner(personas, scopes=("read",)).post(url, GENERIC, format="json").status_code == 403
    person = APIClient()
    person.force_login(personas.users.sam)
    assert person.post(url, GENERIC, format="json").status_code == 403
    assert APIClient().post(url, GENERIC, format="json").status_code in (401, 403)


def test_a_flood_of_forgeries_is_throttled_not_recorded(personas, settings):
    from django.core.cache import caches

    settings.NHI_RATE_ANONYMOUS = 3
    caches["ratelimit"].clear()
    try:
        statuses = [
            deliver(SAMPLE.read_bytes(), signature="sha256=" + "0" * 64).status_code
            for _ in range(6)
        ]
    finally:
        caches["ratelimit"].clear()
    assert statuses == [401, 401, 401, 429, 429, 429]
    assert AuditEvent.objects.filter(action=REQUEST_REFUSED).count() == 3
