"""The evidence pack's page (security only): the form with the last 90 days, the pack
(tests/selectors/test_evidence_pack.py) as an attachment, a bad period refused."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from registry.models import AuditEvent
from registry.web.views import _common
from tests.assertions import last_event
from tests.selectors.evidence_helpers import MEMBERS, PACK_NOW, build_estate, members, table

pytestmark = pytest.mark.django_db


@pytest.fixture
def estate(personas, make_path, sid):
    return build_estate(personas, make_path, sid)


# --- the page ------------------------------------------------------------------------

URL = "/evidence/"


@pytest.fixture
def page(monkeypatch):
    """The page with the clock at PACK_NOW."""
    monkeypatch.setattr(_common, "timezone", SimpleNamespace(now=lambda: PACK_NOW))


def download(response) -> bytes:
    # The test client closes the response (and its spooled file) once it is consumed,
    # without closing the test's database connection.
    return b"".join(response.streaming_content)


def test_page_shows_the_form_with_the_last_90_days(page, client, personas):
    client.force_login(personas.users.sam)
    before = AuditEvent.objects.count()
    response = client.get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="from" value="2026-12-01"' in html
    assert 'name="to" value="2027-03-01"' in html
    assert AuditEvent.objects.count() == before


@pytest.mark.parametrize("method", ["get", "post"])
def test_page_returns_the_pack_as_an_attachment(page, client, estate, personas, method):
    client.force_login(personas.users.sam)
    response = getattr(client, method)(URL, {"from": "2026-11-15", "to": "2027-02-20"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"] == (
        'attachment; filename="nhi-evidence-2026-11-15-2027-02-20.zip"'
    )
    assert response["Cache-Control"] == "no-store"
    data = download(response)
    assert int(response["Content-Length"]) == len(data)
    files = members(data)
    assert list(files) == MEMBERS
    doc = json.loads(files["manifest.json"])
    assert (doc["generated_by"], doc["generated_at"]) == ("sam", "2027-03-01T12:00:00+00:00")
    assert len(table(files["paths.csv"], "paths.csv")) == 7
    assert last_event().action == "evidence_pack.generated"


def test_page_refuses_a_bad_period_with_the_form(page, client, personas):
    client.force_login(personas.users.sam)
    before = AuditEvent.objects.count()
    response = client.post(URL, {"from": "2027-02-20", "to": "2026-11-15"})
    assert response.status_code == 400
    assert "The period must end after it starts" in response.content.decode()
    response = client.get(URL, {"from": "soon", "to": "2026-11-15"})
    assert response.status_code == 400
    assert AuditEvent.objects.count() == before


@pytest.mark.parametrize("who", ["pat", "otto"])
@pytest.mark.parametrize("method", ["get", "post"])
def test_page_is_404_for_everyone_but_security(page, client, personas, who, method):
    client.force_login(getattr(personas.users, who))
    before = AuditEvent.objects.count()
    response = getattr(client, method)(URL, {"from": "2026-11-15", "to": "2027-02-20"})
    assert response.status_code == 404
    assert client.get(URL).status_code == 404
    assert AuditEvent.objects.count() == before


def test_page_needs_a_login(page, client):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"] == f"/login/?next={URL}"


def test_page_shows_the_controls_now_in_a_few_queries(
    page, client, estate, personas, django_assert_max_num_queries
):
    client.force_login(personas.users.sam)
    with django_assert_max_num_queries(16):
        html = client.get(URL).content.decode()
    # Five live paths at PACK_NOW, one of them unowned (as the pack says).
    assert '<td class="num" data-control-percent="GV.OC-02">80.0</td>' in html
    assert "GV.OC-02: 80.0% of live paths have a named owning team" in html
    assert "4 / 5" in html
