"""CSV export of the inventory (`/paths/export.csv?<filters>`): the paths the current
filter selects among those the person may see, streamed, one row each, with cells a
spreadsheet would run as formulas neutralised."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from types import SimpleNamespace

import pytest
from django.urls import reverse

from registry import services
from registry.models import AccessPath
from registry.selectors.exports import COLUMNS
from registry.web.views import _common
from tests.conftest import NOW

pytestmark = pytest.mark.django_db

URL = "/paths/export.csv"
HEADER = COLUMNS
DAY = dt.timedelta(days=1)


@pytest.fixture(autouse=True)
def frozen(monkeypatch):
    """Pages read the clock once per request (registry.web.views._common.request_now)."""
    monkeypatch.setattr(_common, "timezone", SimpleNamespace(now=lambda: NOW))


def export(client, user, query: str = "", status: int = 200):
    client.force_login(user)
    response = client.get(f"{URL}?{query}" if query else URL)
    assert response.status_code == status
    return response


def rows_of(response) -> list[dict[str, str]]:
    assert response.streaming
    text = b"".join(response.streaming_content).decode("utf-8")
    reader = csv.reader(io.StringIO(text, newline=""))
    header, *rows = list(reader)
    assert header == HEADER
    return [dict(zip(header, row, strict=True)) for row in rows]


def names(rows) -> list[str]:
    return [row["name"] for row in rows]


@pytest.fixture
def estate(personas, make_path, unowned_path):
    return SimpleNamespace(
        billing=make_path(
            name="billing-export",
            tags=["pci", "soc2-scope"],
            steward_team=personas.teams.platform,
            consumers="nightly billing job",
            now=NOW - 3 * DAY,
        ),
        ledger=make_path(name="ledger-sync", risk_tier="low", now=NOW - 2 * DAY),
        warehouse=make_path(name="warehouse-loader", owner_team=personas.teams.data, now=NOW - DAY),
        unowned=unowned_path,
    )


def test_export_is_a_streamed_csv_attachment(client, personas, estate):
    response = export(client, personas.users.sam)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        'attachment; filename="nhi-paths-20261122T120000Z.csv"'
    )
    rows = rows_of(response)
    # One row per path, oldest first.
    assert names(rows) == ["billing-export", "ledger-sync", "warehouse-loader", "billing-export"]
    assert [row["id"] for row in rows] == [
        str(p.pk) for p in (estate.billing, estate.ledger, estate.warehouse, estate.unowned)
    ]


def test_row_values_team_slugs_tags_and_status(client, personas, estate):
    rows = {row["id"]: row for row in rows_of(export(client, personas.users.sam))}
    billing = rows[str(estate.billing.pk)]
    assert billing["owner_team"] == "payments"
    assert billing["steward_team"] == "platform"
    assert billing["tags"] == "pci soc2-scope"
    assert billing["status"] == "active"
    assert billing["kind"] == "service_account"
    assert billing["environment"] == "prod"
    assert billing["consumers"] == "nightly billing job"
    assert billing["risk_tier"] == "high"
    assert billing["rotation_days"] == ""  # None is an empty cell, not "None"
    assert billing["requires_human_signoff"] == "False"
    assert billing["expires_at"] == estate.billing.expires_at.isoformat()
    assert billing["version"] == "1"
    unowned = rows[str(estate.unowned.pk)]
    assert (unowned["owner_team"], unowned["steward_team"]) == ("", "platform")
    assert (unowned["status"], unowned["tags"], unowned["expires_at"]) == ("unowned", "", "")
    assert rows[str(estate.warehouse.pk)]["owner_team"] == "data"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=unowned", [("billing-export", "unowned")]),
        ("owner_team=payments", [("billing-export", "payments"), ("ledger-sync", "payments")]),
        ("owner_team=payments&risk_tier=low", [("ledger-sync", "payments")]),
        ("tag=pci", [("billing-export", "payments")]),
        ("q=warehouse", [("warehouse-loader", "data")]),
        ("status=unowned&status=active&risk_tier=low", [("ledger-sync", "payments")]),
        # Page keys steer the page, not the selection.
        ("q=ledger&sort=-created&cursor=not-a-cursor", [("ledger-sync", "payments")]),
    ],
)
def test_export_applies_the_inventory_filter(client, personas, estate, query, expected):
    rows = rows_of(export(client, personas.users.sam, query))
    found = [(row["name"], row["owner_team"] or row["status"]) for row in rows]
    assert found == expected


def test_export_is_scoped_to_what_the_person_may_see(client, personas, estate):
    pat = rows_of(export(client, personas.users.pat))
    assert {row["id"] for row in pat} == {
        str(estate.billing.pk),
        str(estate.ledger.pk),
        str(estate.unowned.pk),  # unowned: anyone in a team may claim it
    }
    # Asking for data's paths by filter does not get around the scope.
    assert rows_of(export(client, personas.users.pat, "owner_team=data")) == []
    dana = rows_of(export(client, personas.users.dana))
    assert {row["id"] for row in dana} == {str(estate.warehouse.pk), str(estate.unowned.pk)}


def test_an_outsider_gets_only_the_header(client, personas, estate):
    response = export(client, personas.users.otto)
    text = b"".join(response.streaming_content).decode()
    assert text == ",".join(HEADER) + "\r\n"


def test_export_needs_sign_in(client, estate):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("status=bogus", "bogus is not one of the available choices"),
        ("owner_team=no-such-team", "Select a valid choice"),
        ("expiring_within_days=0", "greater than or equal to 1"),
        ("posture=nhi99", "nhi99 is not one of the available choices"),
        ("expires_before=yesterday", "Enter a valid date"),
    ],
)
def test_an_invalid_filter_is_400(client, personas, estate, query, message):
    response = export(client, personas.users.sam, query, status=400)
    assert not response.streaming
    assert response["Content-Type"].startswith("text/plain")
    body = response.content.decode()
    assert message in body
    assert "external_id" not in body  # no CSV at all


@pytest.mark.parametrize("lead", ["=", "+", "-", "@", "\t"])
def test_cells_a_spreadsheet_would_run_are_neutralised(client, personas, make_path, lead):
    name = f'{lead}HYPERLINK("https://evil.example/","click")'
    path = make_path(name=name, consumers=f"{lead}cmd|' /C calc'!A0")
    assert AccessPath.objects.get(pk=path.pk).name == name
    (row,) = rows_of(export(client, personas.users.sam))
    assert row["name"] == "'" + name
    assert row["consumers"] == f"'{lead}cmd|' /C calc'!A0"
    # Harmless values are left alone.
    assert row["system"] == "aws"
    assert row["justification"] == path.justification


def test_names_that_only_contain_the_characters_are_untouched(client, personas, make_path):
    make_path(name="billing=export+v2@prod-1")
    (row,) = rows_of(export(client, personas.users.sam))
    assert row["name"] == "billing=export+v2@prod-1"


def test_export_follows_a_revocation(client, personas, estate):
    services.path_revoke(
        actor=personas.pat, path=estate.ledger, reason="Replaced by OIDC.", now=NOW - DAY
    )
    rows = rows_of(export(client, personas.users.pat, "status=awaiting_source"))
    assert [(row["name"], row["status"]) for row in rows] == [("ledger-sync", "awaiting_source")]
    assert rows[0]["version"] == "2"


def test_team_slug_cells_are_neutralised_too(client, personas, make_path):
    # A slug may start with "-" (Django's slug pattern allows it); "-1-1" opens in a
    # spreadsheet as the formula =-1-1.
    team = services.team_create(
        actor=personas.system, data={"slug": "-1-1", "name": "Odd"}, now=NOW - DAY
    )
    make_path(owner_team=None, steward_team=team, justification="", ticket_url="")
    (row,) = rows_of(export(client, personas.users.sam))
    assert row["steward_team"] == "'-1-1"


def test_json_export_follows_the_filter_and_the_scope(client, personas, make_path):
    make_path(name="payments-one")
    make_path(name="data-one", owner_team=personas.teams.data)
    client.force_login(personas.users.pat)
    response = client.get(reverse("registry:path-export-json"), {"status": "active"})
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"].endswith('.json"')
    records = json.loads(b"".join(response.streaming_content))
    assert [r["name"] for r in records] == ["payments-one"]
    assert set(records[0]) == set(COLUMNS)
    bad = client.get(reverse("registry:path-export-json"), {"status": "bogus"})
    assert bad.status_code == 400
