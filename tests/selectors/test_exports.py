"""The export's fast row source (registry.selectors.exports.export_rows): plain values
through a server-side cursor, per-chunk tags and revokers, control-point owners from
registry.rules.control_points. It must write exactly what reading each path as a model
instance gives (the oracle below, the way exports were written before), for every kind
of value, and its queries must not grow with the number of paths."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from registry import services
from registry.models import AccessPath
from registry.rules.control_points import authority_of
from registry.rules.policies import current_policy
from registry.rules.posture import path_violations
from registry.selectors import exports, path_list
from registry.selectors.exports import (
    COLUMNS,
    OWNER_COLUMNS,
    TEAM_COLUMNS,
    count_up_to,
    csv_lines,
    csv_safe,
    export_pieces,
    export_rows,
    json_chunks,
)
from tests.conftest import NOW

pytestmark = pytest.mark.django_db

HOUR = dt.timedelta(hours=1)
FORMULA = '=HYPERLINK("https://evil.example/","x")'


def oracle(path: AccessPath) -> list[Any]:
    """One path's export values, read attribute by attribute from the model instance
    (teams, tags and revokers through the ORM, owners through authority_of)."""
    values: list[Any] = []
    for column in COLUMNS:
        if column in TEAM_COLUMNS:
            team = getattr(path, column)
            values.append(team.slug if team else None)
        elif column in OWNER_COLUMNS:
            owner = authority_of(path).owners[OWNER_COLUMNS[column]].team
            values.append(owner.slug if owner else None)
        elif column == "revoker_teams":
            values.append(authority_of(path).revoker_slugs())
        elif column == "tags":
            values.append(sorted(tag.slug for tag in path.tags.all()))
        elif column == "violations":
            values.append([rule.code for rule in _broken(path)])
        elif column == "framework_ids":
            ids = [fid for rule in _broken(path) for fid in rule.framework_ids]
            values.append(list(dict.fromkeys(ids)))
        elif column == "id":
            values.append(str(path.pk))
        else:
            value = getattr(path, column)
            values.append(value.isoformat() if hasattr(value, "isoformat") else value)
    return values


def _broken(path: AccessPath) -> list:
    """The rules the path breaks now, unwaived: its page's answer (the export's `now` is
    the real clock's)."""
    return path_violations(path, now=timezone.now(), policy=current_policy())


def oracle_rows(actor) -> list[list[Any]]:
    return [oracle(path) for path in path_list(actor=actor, now=NOW).order_by("created_at", "id")]


@pytest.fixture
def varied(personas, make_path):
    """Paths with every kind of value an export writes."""
    teams = personas.teams
    services.system_control_policy_set(
        actor=personas.sam, system="aws", iam_team=teams.security, pam_team=teams.data,
        secops_team=None, now=NOW,
    )  # fmt: skip
    odd = services.team_create(
        actor=personas.system, data={"slug": "-1-1", "name": "Odd"}, now=NOW - 9 * HOUR
    )
    made = [
        make_path(name="tagged", tags=["pci", "soc2-scope"], steward_team=teams.platform,
                  revoker_teams=[teams.data, teams.security], now=NOW - 8 * HOUR),
        make_path(name="own-points", system="gcp", iam_team=teams.growth, pam_team=teams.data,
                  secops_team=teams.security, steward_team=teams.platform, now=NOW - 7 * HOUR),
        make_path(name=FORMULA, consumers="+cmd|' /C calc'!A0", owner_team=None,
                  justification="", ticket_url="", steward_team=odd, now=NOW - 6 * HOUR),
        make_path(name="low-and-bare", risk_tier="low", system="vault", now=NOW - 5 * HOUR),
        make_path(name="rotating", rotation_days=30, expires_at=NOW + 40 * HOUR,
                  last_used_at=NOW - 5 * HOUR + dt.timedelta(microseconds=1234),
                  now=NOW - 4 * HOUR),
    ]  # fmt: skip
    services.path_revoke(actor=personas.sam, path=made[3], reason="Replaced by OIDC.", now=NOW)
    return made


def test_rows_equal_the_instance_by_instance_rows(personas, varied):
    expected = oracle_rows(personas.sam)
    assert len(expected) == len(varied)
    assert list(export_rows(path_list(actor=personas.sam, now=NOW))) == expected
    # The varied set really covers what it claims to.
    by_name = {row[COLUMNS.index("name")]: dict(zip(COLUMNS, row, strict=True)) for row in expected}
    assert by_name["tagged"]["tags"] == ["pci", "soc2-scope"]
    assert by_name["tagged"]["revoker_teams"] == ["data", "security"]
    assert (by_name["tagged"]["iam_owner"], by_name["tagged"]["pam_owner"]) == ("security", "data")
    assert by_name["own-points"]["iam_owner"] == "growth"
    assert by_name[FORMULA]["steward_team"] == "-1-1"
    assert by_name[FORMULA]["owner_team"] is None
    assert by_name["rotating"]["rotation_days"] == 30
    assert by_name["rotating"]["last_used_at"].endswith(".001234+00:00")
    assert by_name["rotating"]["created_at"].endswith(":00+00:00")  # no fraction: none written


def test_rows_are_the_same_across_chunk_boundaries(personas, varied, monkeypatch):
    monkeypatch.setattr(exports, "CHUNK", 2)
    seen: list[int] = []
    rows = list(export_rows(path_list(actor=personas.sam, now=NOW), progress=seen.append))
    assert rows == oracle_rows(personas.sam)
    assert seen == [2, 4, 5]


def test_csv_and_json_write_the_oracle_values(personas, varied):
    expected = oracle_rows(personas.sam)
    text = "".join(csv_lines(path_list(actor=personas.sam, now=NOW)))
    header, *cells = list(csv.reader(io.StringIO(text, newline="")))
    assert header == COLUMNS
    frameworks = COLUMNS.index("framework_ids")
    assert cells == [
        [
            csv_safe(("; " if i == frameworks else " ").join(v) if isinstance(v, list) else v)
            for i, v in enumerate(row)
        ]
        for row in expected
    ]
    records = json.loads("".join(json_chunks(path_list(actor=personas.sam, now=NOW))))
    assert records == [dict(zip(COLUMNS, row, strict=True)) for row in expected]
    assert all(list(record) == sorted(COLUMNS) for record in records)


def test_formula_cells_are_neutralised_and_text_is_kept(personas, varied):
    text = "".join(csv_lines(path_list(actor=personas.sam, now=NOW)))
    rows = {row["external_id"]: row for row in csv.DictReader(io.StringIO(text, newline=""))}
    odd = next(row for row in rows.values() if row["steward_team"] == "'-1-1")
    assert odd["name"] == "'" + FORMULA
    assert odd["consumers"] == "'+cmd|' /C calc'!A0"
    assert odd["owner_team"] == "" and odd["rotation_days"] == ""


def test_pieces_join_into_the_whole_export(personas, varied, monkeypatch):
    monkeypatch.setattr(exports, "STREAM_PIECE_BYTES", 100)
    qs = path_list(actor=personas.sam, now=NOW)
    pieces = list(export_pieces(qs, "csv"))
    assert len(pieces) > 2
    assert b"".join(pieces).decode() == "".join(csv_lines(qs))
    assert b"".join(export_pieces(qs, "json")).decode() == "".join(json_chunks(qs))


def test_queries_do_not_grow_with_the_number_of_paths(
    personas, make_path, django_assert_max_num_queries
):
    teams = personas.teams

    def add(count: int) -> None:
        for i in range(count):
            make_path(tags=["pci"] if i % 2 else [], revoker_teams=[teams.data],
                      iam_team=teams.growth if i % 3 else None, system=f"sys-{i % 4}")  # fmt: skip

    add(10)
    personas.sam.team_ids  # noqa: B018 - the actor's memberships: read once, before counting
    with CaptureQueriesContext(connection) as ten:
        assert len(list(export_rows(path_list(actor=personas.sam, now=NOW)))) == 10
    add(90)
    with django_assert_max_num_queries(len(ten.captured_queries)):
        assert len(list(export_rows(path_list(actor=personas.sam, now=NOW)))) == 100


def test_count_up_to_stops_at_its_limit(personas, make_path):
    for _ in range(4):
        make_path()
    qs = path_list(actor=personas.sam, now=NOW)
    assert count_up_to(qs, 3) == 3
    assert count_up_to(qs, 10) == 4
    assert count_up_to(path_list(actor=personas.otto, now=NOW), 10) == 0


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL planner setting")
def test_the_cursor_is_planned_for_every_row_then_the_setting_is_put_back(personas, varied):
    with connection.cursor() as cursor:
        cursor.execute("SHOW cursor_tuple_fraction")
        (before,) = cursor.fetchone()
    with CaptureQueriesContext(connection) as seen:
        assert list(export_rows(path_list(actor=personas.sam, now=NOW))) == oracle_rows(
            personas.sam
        )
    statements = [q["sql"] for q in seen.captured_queries]
    declared = next(i for i, sql in enumerate(statements) if "ORDER BY" in sql and "status" in sql)
    assert statements[declared - 1] == "SET cursor_tuple_fraction = 1.0"
    assert statements[declared + 1] == "RESET cursor_tuple_fraction"
    with connection.cursor() as cursor:
        cursor.execute("SHOW cursor_tuple_fraction")
        assert cursor.fetchone() == (before,)
