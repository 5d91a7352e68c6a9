"""Reading scanners' alerts into `Alert`s for `incident_from_alert`: GitHub's
secret_scanning_alert webhook (signed with a shared secret) and the generic JSON form.

A credential never goes further than this module: GitHub's event carries none, but some
senders add the `secret`; its SHA-256 fingerprint is computed in memory to match the
path, and the value itself is neither stored, logged nor returned. The generic form
refuses one outright (send the fingerprint).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from typing import Any

from django.utils.dateparse import parse_datetime

from registry.models import Incident
from registry.rules import errors
from registry.rules.errors import Invalid
from registry.services.incidents import Alert

GITHUB = "github"
GITHUB_EVENT = "secret_scanning_alert"
# GitHub caps deliveries at 25 MB; a secret-scanning alert is a few kilobytes.
MAX_BODY_BYTES = 256 * 1024
# The alert's own facts recorded on every later delivery (never a credential: checked).
GITHUB_DETAILS = (
    "state",
    "resolution",
    "resolution_comment",
    "validity",
    "push_protection_bypassed",
    "publicly_leaked",
)
# Fields of the generic form, and which text column each fills.
GENERIC_FIELDS = frozenset(
    {
        "source",
        "alert_id",
        "action",
        "fingerprint",
        "identifier",
        "kind",
        "detected_at",
        "url",
        "secret_type",
        "location",
        "summary",
        "detection",
    }
)
_CREDENTIAL_FIELDS = ("secret", "value", "credential", "token", "raw")


def github_signature_ok(*, secret: str, body: bytes, header: str) -> bool:
    """X-Hub-Signature-256: "sha256=" + the HMAC-SHA256 of the raw body, compared in
    constant time."""
    if not header.startswith("sha256="):
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header.removeprefix("sha256=").strip().lower())


def fingerprint_of(secret: str) -> str:
    """The SHA-256 hex of a credential, as the registry's fingerprints are recorded."""
    return hashlib.sha256(secret.encode()).hexdigest()


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _when(field: str, value: Any) -> dt.datetime:
    parsed = parse_datetime(value) if isinstance(value, str) else None
    if parsed is None or parsed.tzinfo is None:
        raise Invalid.single(field, "Give an ISO 8601 date and time with its offset (…Z).")
    return parsed


def github_alert(payload: Any) -> Alert:
    """The Alert of a secret_scanning_alert event, or Invalid naming what is missing."""

    def bad(why: str) -> Invalid:
        return Invalid.single("body", errors.WEBHOOK_BAD_PAYLOAD.format(why=why))

    if not isinstance(payload, dict):
        raise bad("not a JSON object")
    alert, repository = payload.get("alert"), payload.get("repository")
    if not isinstance(alert, dict) or not isinstance(repository, dict):
        raise bad("no alert or repository")
    number, repo = alert.get("number"), _text(repository.get("full_name"))
    if not isinstance(number, int) or not repo:
        raise bad("the alert has no number or the repository no full_name")
    action = _text(payload.get("action")) or "created"
    raw = alert.get("secret")
    fingerprint = fingerprint_of(raw) if isinstance(raw, str) and raw else ""
    name = _text(alert.get("secret_type_display_name")) or _text(alert.get("secret_type"))
    bypassed = " Pushed despite push protection." if alert.get("push_protection_bypassed") else ""
    public = " Publicly leaked." if alert.get("publicly_leaked") else ""
    return Alert(
        source=GITHUB,
        external_ref=f"{repo}#{number}",
        action=action,
        detected_at=_when("alert.created_at", alert.get("created_at")),
        detection=Incident.Detection.SECRET_SCANNING,
        alert_url=_text(alert.get("html_url")),
        secret_type=name,
        location=_text(repository.get("html_url")) or repo,
        summary=f"GitHub secret scanning found a {name or 'secret'} in {repo}.{bypassed}{public}",
        fingerprint=fingerprint,
        details={k: alert.get(k) for k in GITHUB_DETAILS if k in alert},
    )


def generic_alert(data: Any) -> Alert:
    """The Alert of the generic intake's JSON (docs/API.md), every error naming its
    field; a credential in any field is refused, never stored."""
    if not isinstance(data, dict):
        raise Invalid.single("body", "Send a JSON object.")
    for name in _CREDENTIAL_FIELDS:
        if name in data:
            raise Invalid.single(name, errors.INCIDENT_SEND_A_FINGERPRINT)
    unknown = sorted(set(data) - GENERIC_FIELDS)
    if unknown:
        raise Invalid({name: [errors.UNKNOWN_FIELD] for name in unknown})
    for name, value in data.items():
        if value is not None and not isinstance(value, str):
            raise Invalid.single(name, "Give a string.")
    source = _text(data.get("source")).strip()
    if source.lower() == GITHUB:
        raise Invalid.single("source", errors.INCIDENT_SOURCE_RESERVED)
    alert_id = _text(data.get("alert_id")).strip()
    if not alert_id:
        raise Invalid.single("alert_id", errors.REQUIRED)
    if not data.get("detected_at"):
        raise Invalid.single("detected_at", errors.REQUIRED)
    detection = _text(data.get("detection")) or Incident.Detection.SECRET_SCANNING
    if detection not in (Incident.Detection.SECRET_SCANNING, Incident.Detection.PARTNER):
        raise Invalid.single("detection", "Use secret_scanning or partner_report.")
    identifier = _text(data.get("identifier")).strip()
    fingerprint = _text(data.get("fingerprint")).strip()
    if identifier and fingerprint:
        raise Invalid.single("identifier", "Give a fingerprint or an identifier, not both.")
    return Alert(
        source=source,
        external_ref=alert_id,
        action=_text(data.get("action")).strip() or "created",
        detected_at=_when("detected_at", data.get("detected_at")),
        detection=detection,
        alert_url=_text(data.get("url")),
        secret_type=_text(data.get("secret_type")),
        location=_text(data.get("location")),
        summary=_text(data.get("summary")),
        fingerprint=fingerprint,
        identifier=identifier,
        kind=_text(data.get("kind")) or None,
    )
