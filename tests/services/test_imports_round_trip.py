"""An export imports back unchanged, and an import reports its progress up to the last
row (and draws a progress bar).

The command's clock is pinned at NOW (the `clock` fixture, tests/services/conftest.py)."""

from __future__ import annotations

import pytest

from registry.importers.base import ImportRow
from registry.models import AccessPath, ImportRun
from registry.services.imports import paths_import
from tests.conftest import NOW
from tests.services.imports_helpers import (
    ALL_FORMATS,
    EXPECTED,
    SAMPLES,
    estate,
    export,
    import_sample,
    last_seq,
    new_events,
    run,
    run_of,
    summary,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clock")]

# --- round trip ----------------------------------------------------------------------------


@pytest.fixture
def imported_estate(personas, make_path):
    for fmt in ALL_FORMATS:
        if fmt != "json":
            import_sample(fmt)
    make_path(system="vault", external_id="vault:manual/1", tags=["pci"])
    make_path(
        system="vault",
        external_id="vault:manual/2",
        owner_team=None,
        justification="",
        ticket_url="",
        consumers="a, b",
    )
    return AccessPath.objects.count()


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_an_export_imports_back_unchanged(personas, imported_estate, tmp_path, fmt):
    exported = export(fmt, tmp_path / f"estate.{fmt}")
    before = estate()
    seq = last_seq()

    output, _ = run(exported, "--format", fmt)

    assert run_of(output).counts == {"unchanged": imported_estate}
    assert estate()["paths"] == before["paths"]
    assert new_events(seq) == ["import.applied"]
    assert imported_estate == 2 + sum(len(EXPECTED[f]) for f in ALL_FORMATS if f != "json")


# --- progress ------------------------------------------------------------------------------


def generated_rows(count: int) -> list[ImportRow]:
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
            },
        )
        for index in range(count)
    ]


@pytest.mark.parametrize("count", [1, 3, 1201])
def test_progress_is_reported_up_to_the_last_row(personas, count):
    calls: list[tuple[int, int]] = []

    report = paths_import(
        actor=personas.system,
        rows=generated_rows(count),
        source_format="csv",
        progress=lambda done, total: calls.append((done, total)),
        now=NOW,
    )

    assert report.counts == {"created": count}
    assert calls[-1] == (count, count)
    assert {total for _, total in calls} == {count}
    done = [d for d, _ in calls]
    assert done == sorted(set(done))
    if count > 1000:
        assert len(calls) > 1  # a long import shows its way before the end


def test_progress_is_reported_for_a_refused_import_too(personas):
    calls: list[tuple[int, int]] = []
    rows = generated_rows(3)
    rows[1].errors.append("broken")

    report = paths_import(
        actor=personas.system,
        rows=rows,
        source_format="csv",
        progress=lambda done, total: calls.append((done, total)),
        now=NOW,
    )

    assert report.run.status == ImportRun.Status.REFUSED
    assert calls[-1] == (3, 3)


def test_the_command_draws_a_progress_bar_on_stderr(personas):
    out, err = run(SAMPLES / "registry-paths.csv", "--format", "csv", progress=True)

    assert err.endswith("\r[" + "#" * 30 + "] 3/3 rows\n")
    assert "rows" not in out

    out, err = run(SAMPLES / "registry-paths.csv", "--format", "csv")

    assert err == ""
    assert summary(out) == "Applied; unchanged 3"
