"""`manage.py export_paths`: the estate (or what inventory filters select) as CSV or
JSON with registry.selectors.exports.COLUMNS, to stdout or a file; a bad filter is refused; a
spreadsheet never runs a cell as a formula."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from registry import services
from registry.models import AccessPath
from registry.selectors.exports import COLUMNS
from tests.conftest import NOW

pytestmark = pytest.mark.django_db

FORMULA = '=HYPERLINK("https://evil.example.com","click")'
HOUR = dt.timedelta(hours=1)


@pytest.fixture(autouse=True)
def clock(monkeypatch):
    """Statuses and filters are computed at the command's clock: pin it."""
    monkeypatch.setattr(timezone, "now", lambda: NOW)


@pytest.fixture
def estate(personas, make_path):
    billing = make_path(
        name="billing-export",
        external_id="vault:billing",
        tags=["pci", "soc2-scope"],
        steward_team=personas.teams.platform,
        now=NOW - 4 * HOUR,
    )
    unowned = make_path(
        name="orphan-key",
        external_id="vault:orphan",
        kind=AccessPath.Kind.SSH_KEY,
        owner_team=None,
        steward_team=personas.teams.platform,
        justification="",
        ticket_url="",
        now=NOW - 3 * HOUR,
    )
    formula = make_path(
        name=FORMULA, external_id="vault:formula", owner_team=None, now=NOW - 2 * HOUR
    )
    revoked = make_path(
        name="old-token", external_id="vault:old", kind=AccessPath.Kind.API_TOKEN, now=NOW - HOUR
    )
    services.path_revoke(actor=personas.sam, path=revoked, reason="Replaced by OIDC.", now=NOW)
    return {"billing": billing, "unowned": unowned, "formula": formula, "revoked": revoked}


def export(capsys, *args: str) -> str:
    call_command("export_paths", *args)
    return capsys.readouterr().out


def csv_rows(text: str) -> list[dict[str, str]]:
    header, *rows = list(csv.reader(io.StringIO(text, newline="")))
    assert header == COLUMNS
    return [dict(zip(header, row, strict=True)) for row in rows]


def test_csv_lists_every_path_with_the_export_columns(capsys, estate):
    rows = csv_rows(export(capsys))

    assert [row["external_id"] for row in rows] == [
        "vault:billing",
        "vault:orphan",
        "vault:formula",
        "vault:old",
    ]  # creation order
    billing = rows[0]
    assert billing["id"] == str(estate["billing"].pk)
    assert (billing["owner_team"], billing["steward_team"]) == ("payments", "platform")
    assert (billing["status"], billing["version"]) == ("active", "1")
    assert set(billing["tags"].split()) == {"pci", "soc2-scope"}
    assert billing["expires_at"] == estate["billing"].expires_at.isoformat()
    assert billing["interactive_login"] == "False"
    orphan = rows[1]
    assert (orphan["owner_team"], orphan["status"], orphan["kind"]) == ("", "unowned", "ssh_key")
    assert rows[3]["status"] == "awaiting_source"


def test_json_is_a_list_of_objects_with_the_export_columns(capsys, estate):
    records = json.loads(export(capsys, "--format", "json"))

    assert isinstance(records, list) and len(records) == 4
    assert all(set(record) == set(COLUMNS) for record in records)
    billing = next(r for r in records if r["external_id"] == "vault:billing")
    assert billing["id"] == str(estate["billing"].pk)
    assert sorted(billing["tags"]) == ["pci", "soc2-scope"]
    assert billing["owner_team"] == "payments"
    assert billing["interactive_login"] is False
    assert billing["review_interval_days"] == estate["billing"].review_interval_days
    assert billing["expires_at"] == estate["billing"].expires_at.isoformat()
    orphan = next(r for r in records if r["external_id"] == "vault:orphan")
    assert (orphan["owner_team"], orphan["status"]) == (None, "unowned")
    formula = next(r for r in records if r["external_id"] == "vault:formula")
    assert formula["name"] == FORMULA  # JSON is no spreadsheet: kept as it is


def test_an_empty_estate_exports_a_header_or_an_empty_list(capsys, personas):
    assert export(capsys).splitlines() == [",".join(COLUMNS)]
    assert json.loads(export(capsys, "--format", "json")) == []


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_filter_selects_like_the_inventory(capsys, estate, fmt):
    text = export(capsys, "--format", fmt, "--filter", "status=unowned")

    records = csv_rows(text) if fmt == "csv" else json.loads(text)
    assert {r["external_id"] for r in records} == {"vault:orphan", "vault:formula"}
    assert {r["status"] for r in records} == {"unowned"}


def test_filters_combine_and_repeat(capsys, estate):
    text = export(
        capsys, "--filter", "kind=ssh_key", "--filter", "kind=api_token", "--filter", "q=old"
    )

    assert [r["external_id"] for r in csv_rows(text)] == ["vault:old"]


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("status=bogus", "Bad filter: status:"),
        ("expires_before=next-week", "Bad filter: expires_before:"),
        ("owner_team=no-such-team", "Bad filter: owner_team:"),
        ("status", "--filter takes KEY=VALUE, not 'status'."),
        ("=unowned", "--filter takes KEY=VALUE, not '=unowned'."),
    ],
)
def test_a_bad_filter_is_refused(capsys, estate, item, message):
    with pytest.raises(CommandError) as exc:
        call_command("export_paths", "--filter", item)

    assert message in str(exc.value)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_output_writes_the_file_and_nothing_to_stdout(capsys, estate, tmp_path: Path, fmt):
    target = tmp_path / f"paths.{fmt}"

    out = export(capsys, "--format", fmt, "--output", str(target))

    assert out == ""
    text = target.read_text(encoding="utf-8")
    parse = csv_rows if fmt == "csv" else json.loads
    assert parse(text) == parse(export(capsys, "--format", fmt))
    assert len(parse(text)) == 4


def test_a_formula_is_neutralised_in_csv(capsys, estate, make_path):
    make_path(
        name="+SUM(1,2)",
        external_id="vault:plus",
        consumers="@ops-team",
        privilege_scope="-2+3",
        justification="\t=1+1 hidden after a tab in the justification field",
    )

    rows = {r["external_id"]: r for r in csv_rows(export(capsys))}

    assert rows["vault:formula"]["name"] == "'" + FORMULA
    plus = rows["vault:plus"]
    assert plus["name"] == "'+SUM(1,2)"
    assert plus["consumers"] == "'@ops-team"
    assert plus["privilege_scope"] == "'-2+3"
    assert plus["justification"].startswith("'\t=1+1")
    assert rows["vault:billing"]["name"] == "billing-export"


def test_call_command_stdout_receives_the_export(capsys, estate):
    out = io.StringIO()

    call_command("export_paths", stdout=out)

    assert out.getvalue().splitlines()[0] == ",".join(COLUMNS)
    assert capsys.readouterr().out == ""
