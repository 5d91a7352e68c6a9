"""Editing a path on its edit page: only what changed is recorded, form errors change
nothing, and a form sent back unchanged writes nothing."""

from __future__ import annotations

import pytest

from registry.models import AuditEvent
from registry.rules import errors
from tests.assertions import records
from tests.web.helpers import JUSTIFICATION_EDITED, fresh, nothing_changes, submit_edit, text

pytestmark = pytest.mark.django_db


def test_edit_records_only_the_changed_field(client, personas, world):
    act = world["edit"]("pat")
    client.force_login(personas.users.pat)
    with records("access_path.updated"):
        response = submit_edit(client, act.path, justification=JUSTIFICATION_EDITED)
    assert response.status_code == 302
    event = AuditEvent.objects.order_by("-seq").first()
    assert event.changes == {"justification": [act.path.justification, JUSTIFICATION_EDITED]}


def test_edit_keeps_the_steward_team(client, personas, make_path):
    path = make_path(steward_team=personas.teams.platform)
    client.force_login(personas.users.pat)
    response = submit_edit(client, path, justification=JUSTIFICATION_EDITED)
    assert response.status_code == 302
    after = fresh(path)
    assert after.justification == JUSTIFICATION_EDITED
    assert after.steward_team_id == personas.teams.platform.pk


def test_edit_form_errors_are_400_and_change_nothing(client, personas, world):
    act = world["edit"]("pat")
    client.force_login(personas.users.pat)
    with nothing_changes():
        response = submit_edit(client, act.path, justification="tbd")
    assert response.status_code == 400
    assert errors.JUSTIFICATION_PLACEHOLDER in text(response)
    with nothing_changes():
        response = submit_edit(client, act.path, ticket_url="ftp://tickets.example.com/1")
    assert response.status_code == 400
    assert errors.TICKET_URL_SCHEME in text(response)


def test_edit_without_changes_writes_nothing(client, personas, world):
    act = world["edit"]("pat")
    client.force_login(personas.users.pat)
    with nothing_changes():
        response = submit_edit(client, act.path)
    assert response.status_code == 302
