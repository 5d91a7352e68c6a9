"""The admin shows and filters by the status the app gives a path (issue 16), not the
stored state, and its status filter stays bounded (never counts or scans the table)."""

from __future__ import annotations

import datetime as dt
import re
from types import SimpleNamespace

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from registry.web.views import _common
from tests.conftest import NOW

pytestmark = pytest.mark.django_db

DAY = dt.timedelta(days=1)
URL = "admin:registry_accesspath_changelist"


@pytest.fixture
def sam_admin(client, personas, monkeypatch):
    personas.users.sam.is_staff = personas.users.sam.is_superuser = True
    personas.users.sam.save()
    client.force_login(personas.users.sam)
    # The admin reads the clock once per request, as every page does.
    monkeypatch.setattr(_common, "timezone", SimpleNamespace(now=lambda: NOW))
    return client


@pytest.fixture
def paths(make_path):
    """High risk: 90-day reviews. Nothing swept: the stored state of all three is active."""
    return SimpleNamespace(
        lapsed=make_path(name="lapsed-path", now=NOW - 120 * DAY),  # due NOW-30d
        overdue=make_path(name="overdue-path", now=NOW - 95 * DAY),  # due NOW-5d
        active=make_path(name="active-path", now=NOW - 10 * DAY),
    )


def status_cells(html: str) -> dict[str, str]:
    """{path name: the text of its status cell} from the changelist's rows."""
    rows = re.findall(r"<tr>.*?</tr>", html, flags=re.S)
    cells = {}
    for row in rows:
        name = re.search(r'class="field-name"><a [^>]*>([^<]+)</a>', row)
        status = re.search(r'class="field-status">([^<]*)</td>', row)
        if name and status:
            cells[name.group(1)] = status.group(1)
    return cells


def test_the_changelist_shows_the_apps_status(sam_admin, paths):
    assert {p.state for p in vars(paths).values()} == {"active"}
    html = sam_admin.get(reverse(URL)).content.decode()
    assert status_cells(html) == {
        "lapsed-path": "Lapsed",
        "overdue-path": "Overdue",
        "active-path": "Active",
    }


@pytest.mark.parametrize(
    ("status", "names"),
    [
        ("lapsed", {"lapsed-path": "Lapsed"}),
        ("overdue", {"overdue-path": "Overdue"}),
        ("active", {"active-path": "Active"}),
        ("revoked", {}),
    ],
)
def test_the_status_filter_finds_them(sam_admin, paths, status, names):
    response = sam_admin.get(reverse(URL), {"status": status})
    assert response.status_code == 200
    assert status_cells(response.content.decode()) == names


def test_the_filter_offers_every_status_and_refuses_an_unknown_one(sam_admin, paths):
    html = sam_admin.get(reverse(URL)).content.decode()
    for value in ("lapsed", "overdue", "review_due", "awaiting_source"):
        assert f"?status={value}" in html
    response = sam_admin.get(reverse(URL), {"status": "sideways"})
    # Django admin's answer to a bad filter: back to the list, flagged, never a 500.
    assert response.status_code == 302 and "e=1" in response["Location"]


def test_filtering_by_status_never_counts_the_table(sam_admin, paths):
    for params in ({"status": "lapsed"}, {"status": "overdue", "q": "path"}):
        with CaptureQueriesContext(connection) as captured:
            response = sam_admin.get(reverse(URL), params)
        assert response.status_code == 200
        table = [q["sql"] for q in captured.captured_queries if "registry_accesspath" in q["sql"]]
        counts = [sql for sql in table if "COUNT(" in sql.upper()]
        assert counts and all(re.search(r"LIMIT \d+\) subquery", sql) for sql in counts)
        assert not any("DISTINCT" in sql.upper() for sql in table)
