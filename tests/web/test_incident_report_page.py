"""The report-a-leak page for someone who sees no path: an identifier that matches
nothing is still recorded and routed to security (it used to be a 500)."""

import pytest
from django.urls import reverse

from registry.models import Incident

pytestmark = pytest.mark.django_db


def test_an_outsider_reports_an_unknown_identifier_on_the_page(client, personas):
    client.force_login(personas.users.otto)
    response = client.post(
        reverse("registry:incident-new"),
        {"identifier": "AKIAUNKNOWN0000000000", "kind": "key_id", "detection": "manual"},
    )
    assert response.status_code == 201
    assert "routed to security" in response.content.decode()
    assert Incident.objects.get().path is None
