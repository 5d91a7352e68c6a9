"""An unchanged row is recognised in the database by its content hash (services/
import_staging.py) and costs no load, no rewrite and no audit event; a path changed
since by anyone else is compared field by field again, so what an import does stays
exactly what it did before the hash existed. New plain rows are inserted together.
Runs on SQLite and on PostgreSQL (COPY into the staging table there)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from registry import services
from registry.importers.base import ImportRow
from registry.models import AccessPath, AuditEvent
from registry.rules.policies import current_policy
from registry.rules.validation import unsafe_input_errors
from registry.services import import_rows, imports
from registry.services.import_staging import (
    import_digest,
    insert_new_paths,
    stored_hash,
    unchanged_in_database,
)
from registry.services.imports import paths_import
from registry.services.paths import _new_path
from tests.conftest import NOW

pytestmark = [pytest.mark.django_db]


def rows(count: int, **extra: object) -> list[ImportRow]:
    return [
        ImportRow(
            line=index + 2,
            data={
                "name": f"job-{index}",
                "kind": "api_token",
                "system": "bulk",
                "external_id": f"bulk:{index}",
                "environment": "dev",
                "created_via": "discovery",
                "consumers": "nightly export",
                "last_used_at": NOW - dt.timedelta(days=index % 9),
                **extra,
            },
        )
        for index in range(count)
    ]


def apply(personas, batch: list[ImportRow], now: dt.datetime = NOW):
    return paths_import(actor=personas.system, rows=batch, source_format="csv", now=now)


def snapshot() -> dict[str, tuple]:
    return {
        p.external_id: (p.version, p.updated_at, p.content_hash, p.consumers)
        for p in AccessPath.objects.all()
    }


def test_new_rows_are_registered_with_their_hash_and_audited_once_each(personas):
    report = apply(personas, rows(5))

    assert report.counts == {"created": 5}
    for path in AccessPath.objects.all():
        row = next(r for r in rows(5) if r.data["external_id"] == path.external_id)
        assert path.content_hash == stored_hash(import_digest(row.data, None), 1)
    registered = AuditEvent.objects.filter(action="access_path.registered")
    assert registered.count() == 5
    # Born stamped by the run (one write per row, not an insert and then an update).
    stamps = AccessPath.objects.values_list("import_source", "last_import_run", "last_seen_at")
    assert set(stamps) == {("csv", report.run.pk, NOW)}


def test_a_reimport_is_settled_in_the_database_without_a_write(personas):
    apply(personas, rows(6))
    before, events = snapshot(), AuditEvent.objects.count()

    report = apply(personas, rows(6), now=NOW + dt.timedelta(hours=1))

    assert report.counts == {"unchanged": 6}
    assert snapshot() == before  # no version bump, no rewrite of the record
    assert list(AuditEvent.objects.values_list("action", flat=True)[events:]) == ["import.applied"]
    # The run's stamp is still written: the source did list every path again.
    assert set(AccessPath.objects.values_list("last_seen_at", flat=True)) == {
        NOW + dt.timedelta(hours=1)
    }


def test_settling_unchanged_rows_takes_the_same_queries_for_any_number_of_rows(personas):
    apply(personas, rows(40))

    def queries(count: int) -> int:
        with CaptureQueriesContext(connection) as captured:
            report = apply(personas, rows(count))
        assert report.counts == {"unchanged": count}
        return len(captured)

    assert queries(10) == queries(40)


def test_a_path_edited_since_is_compared_again_and_brought_back(personas):
    apply(personas, rows(3))
    edited = AccessPath.objects.get(external_id="bulk:1")
    services.path_update(
        actor=personas.system, path=edited, changes={"consumers": "someone else"}, now=NOW
    )

    report = apply(personas, rows(3))

    assert report.counts == {"unchanged": 2, "updated": 1}
    edited.refresh_from_db()
    assert edited.consumers == "nightly export"
    assert edited.version == 3


def test_a_path_without_a_hash_is_compared_once_then_settled(personas, make_path):
    path = make_path(
        system="bulk", external_id="bulk:0", name="job-0", kind="api_token",
        environment="dev", owner_team=None, justification="", ticket_url="",
        consumers="nightly export", last_used_at=NOW, created_via="discovery",
    )  # fmt: skip
    assert path.content_hash == ""
    batch = rows(1)
    batch[0].data["last_used_at"] = NOW

    assert apply(personas, batch).counts == {"unchanged": 1}
    path.refresh_from_db()
    assert path.content_hash == stored_hash(import_digest(batch[0].data, None), path.version)
    assert unchanged_in_database(
        [(0, "bulk", "bulk:0", import_digest(batch[0].data, None), "discovery")], now=NOW
    ) == {0: path.pk}


def test_a_retired_path_is_never_settled_as_unchanged(personas):
    apply(personas, rows(2))
    retired = AccessPath.objects.get(external_id="bulk:0")
    services.path_revoke(actor=personas.system, path=retired, reason="Key leaked.", now=NOW)

    report = apply(personas, rows(2))

    assert report.counts == {"unchanged": 1, "listed_but_retired": 1}


def test_a_stated_origin_counts_against_an_unknown_one_only(personas):
    apply(personas, rows(2, created_via="unknown"))
    # "unknown" stated against "unknown" held: settled in the database.
    assert apply(personas, rows(2, created_via="unknown")).counts == {"unchanged": 2}

    # A real origin for a path whose origin is unknown is news: it is recorded.
    report = apply(personas, rows(2, created_via="pipeline"))

    assert report.counts == {"updated": 2}
    assert set(AccessPath.objects.values_list("created_via", flat=True)) == {"pipeline"}
    # ... and never overwritten after that.
    assert apply(personas, rows(2, created_via="iac")).counts == {"unchanged": 2}


def test_a_changed_row_among_unchanged_ones_is_updated_and_audited(personas):
    apply(personas, rows(4))
    seq = AuditEvent.objects.count()
    batch = rows(4)
    batch[2].data["consumers"] = "the weekly export"

    report = apply(personas, batch)

    assert report.counts == {"unchanged": 3, "updated": 1}
    actions = list(AuditEvent.objects.values_list("action", "object_id")[seq:])
    changed = AccessPath.objects.get(external_id="bulk:2")
    assert actions == [("access_path.updated", str(changed.pk)), ("import.applied", actions[-1][1])]


def test_a_key_registered_meanwhile_is_left_to_the_one_by_one_route(personas):
    policy = current_policy()
    built = [_new_path(personas.system, row.data, now=NOW, policy=policy)[0] for row in rows(2)]
    services.path_register(actor=personas.system, data=rows(1)[0].data, now=NOW)

    with transaction.atomic():
        inserted = insert_new_paths(built)

    if connection.vendor == "postgresql":
        assert inserted == {built[1].pk}  # ON CONFLICT skipped the taken key only
    else:
        assert inserted == set()  # the savepoint undid the batch: all retried
    assert AccessPath.objects.filter(system="bulk").count() == len(inserted) + 1


def test_an_import_racing_a_registration_still_applies_every_row(personas, monkeypatch):
    """The key taken between the lookup and the insert goes the ordinary way."""
    original = imports.insert_new_paths

    def racing(paths):
        services.path_register(actor=personas.system, data=rows(1)[0].data, now=NOW)
        return original(paths)

    monkeypatch.setattr(imports, "insert_new_paths", racing)

    report = apply(personas, rows(3))

    assert report.counts == {"created": 2, "unchanged": 1}
    assert AccessPath.objects.filter(system="bulk").count() == 3


@pytest.mark.parametrize(
    ("data", "quick"),
    [
        ({"name": "fine", "tags": ["a", "b"], "rotation_days": 30}, True),
        ({"name": "nul\x00inside"}, False),
        ({"name": "half \ud800 pair"}, False),
        ({"justification": "x" * 10_001}, False),
        ({"tags": ["ok", "bad\x00"]}, False),
        ({"name": {"nested": "dict"}}, False),
        ({"tags": [["deep"]]}, False),
        ({"na\x00me": "key"}, False),
    ],
)
def test_the_quick_safety_pass_never_misses_what_the_full_check_finds(data, quick):
    row = ImportRow(line=2, data=dict(data))

    assert import_rows.plainly_safe(row) is quick
    if quick:
        assert unsafe_input_errors({**row.data, "identifiers": row.identifiers}) == {}
