"""The edit page keeps a path's dates to the microsecond unless the person changes them:
it once cut them to the minute, so every save wrote a false expiry change."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from registry.models import AuditEvent
from tests.conftest import NOW
from tests.web.helpers import JUSTIFICATION_EDITED, fresh, submit_edit

pytestmark = pytest.mark.django_db

# Seconds and microseconds the minute-long input could not show.
ODD = dt.timedelta(seconds=37, microseconds=123456)


def test_editing_the_justification_leaves_every_date_alone(client, personas, make_path):
    path = make_path(
        expires_at=NOW + dt.timedelta(days=40) + ODD,
        last_rotated_at=NOW - dt.timedelta(days=3) + ODD,
        last_used_at=NOW - dt.timedelta(hours=5) + ODD,
        now=NOW,
    )
    client.force_login(personas.users.lee)
    response = submit_edit(client, path, justification=JUSTIFICATION_EDITED)
    assert response.status_code == 302
    after = fresh(path)
    assert after.expires_at == path.expires_at
    assert after.last_rotated_at == path.last_rotated_at
    assert after.last_used_at == path.last_used_at
    event = AuditEvent.objects.filter(action="access_path.updated").latest("seq")
    assert set(event.changes) == {"justification"}


def test_the_dates_are_shown_to_the_second(client, personas, make_path):
    path = make_path(expires_at=NOW + dt.timedelta(days=40) + ODD, now=NOW)
    client.force_login(personas.users.pat)
    page = client.get(reverse("registry:path-edit", args=[path.pk])).content.decode()
    shown = (NOW + dt.timedelta(days=40)).strftime("%Y-%m-%dT%H:%M") + ":37"
    tag = page.split('name="expires_at"')[1].split(">")[0]
    assert f'value="{shown}"' in tag and 'step="1"' in tag


def test_a_changed_date_is_saved_and_recorded(client, personas, make_path):
    path = make_path(expires_at=NOW + dt.timedelta(days=40) + ODD, now=NOW)
    client.force_login(personas.users.lee)
    wanted = path.expires_at.replace(microsecond=0) + dt.timedelta(days=1, seconds=5)
    response = submit_edit(client, path, expires_at=wanted.strftime("%Y-%m-%dT%H:%M:%S"))
    assert response.status_code == 302
    assert fresh(path).expires_at == wanted
    event = AuditEvent.objects.filter(action="access_path.updated").latest("seq")
    assert set(event.changes) == {"expires_at"}


def test_a_browser_dropping_zero_seconds_changes_nothing(client, personas, make_path):
    """Chromium sends "10:00" for a value of "10:00:00": the same instant, no change."""
    path = make_path(expires_at=NOW + dt.timedelta(days=40), now=NOW)
    client.force_login(personas.users.lee)
    short = path.expires_at.strftime("%Y-%m-%dT%H:%M")
    response = submit_edit(client, path, expires_at=short, justification=JUSTIFICATION_EDITED)
    assert response.status_code == 302
    assert fresh(path).expires_at == path.expires_at
    event = AuditEvent.objects.filter(action="access_path.updated").latest("seq")
    assert set(event.changes) == {"justification"}
