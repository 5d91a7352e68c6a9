"""The registry's page addresses as people and systems outside it see them (BASE_URL):
one home, so a digest, a webhook event, the API and triage all link the same page."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings


def path_url(path_id: object) -> str:
    """An access path's page."""
    return f"{settings.BASE_URL}/paths/{path_id}/"


def incident_url(incident_id: object) -> str:
    """A leak incident's page."""
    return f"{settings.BASE_URL}/incidents/{incident_id}/"


def new_incident_url(*, kind: str | None, value: str) -> str:
    """The page that opens an incident for a looked-up identifier (triage links here)."""
    params = {"identifier": value} | ({"kind": kind} if kind else {})
    return f"{settings.BASE_URL}/incidents/new/?{urlencode(params)}"
