"""`manage.py import_paths` and registry.services.imports.paths_import, format by
format: every format registers the paths its sample describes (with the facts the
posture rules read); a second identical import changes nothing but records its run; a
dry run reports exactly what a real run then does and changes nothing; a bad row
refuses the whole import (naming its line and reason) unless --partial; only security
(or the system) imports.

The command reads the clock itself: it is pinned at NOW, the moment the samples
describe (the `clock` fixture, tests/services/conftest.py)."""

from __future__ import annotations

from collections import Counter

import pytest

from registry import services
from registry.audit import verify_chain
from registry.importers import registry_format
from registry.importers.base import ImportRow
from registry.models import AccessPath, AuditEvent, ImportRun
from registry.rules import errors
from registry.rules.errors import Invalid, NotAllowed
from registry.rules.policies import current_policy
from registry.services.imports import paths_import
from tests.assertions import refused, snapshot
from tests.conftest import NOW
from tests.services.imports_helpers import (
    ALL_FORMATS,
    EXPECTED,
    FORMATS,
    SAMPLES,
    Rule,
    at,
    by_external_id,
    check_path,
    estate,
    import_sample,
    last_seq,
    new_events,
    run,
    run_of,
    run_refused,
    sample_json,
    summary,
    violations,
    write_csv,
    write_json,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clock")]

# --- every format: what a sample registers -----------------------------------------------


@pytest.mark.parametrize("fmt", ALL_FORMATS)
def test_every_format_registers_its_sample(personas, fmt):
    sample, gone, absent = FORMATS[fmt]
    expected = EXPECTED[fmt]

    output = import_sample(fmt)

    import_run = run_of(output)
    counts = {"created": len(expected)} | ({"skipped_gone": gone} if gone else {})
    assert import_run.status == ImportRun.Status.APPLIED
    assert import_run.counts == counts
    assert (import_run.source_format, import_run.file_name) == (fmt, sample)
    assert import_run.total == import_run.processed == len(expected) + gone
    assert import_run.errors == []
    assert summary(output).startswith("Applied; created")
    paths = by_external_id()
    assert set(paths) == set(expected)
    assert not absent & set(paths)
    for external_id, facts in expected.items():
        check_path(paths[external_id], facts)
    for path in paths.values():
        assert path.import_source == fmt
        assert path.last_import_run_id == import_run.pk
        assert path.last_seen_at == NOW
        assert path.not_seen_since is None
        assert path.version == 1 or path.last_attested_at is not None
    # one registration event per path, one event for the run
    registered = AuditEvent.objects.filter(action="access_path.registered")
    assert registered.count() == len(expected)
    assert set(registered.values_list("actor_label", flat=True)) == {"import_paths"}
    applied = AuditEvent.objects.get(action="import.applied")
    assert applied.object_id == str(import_run.pk)
    assert applied.changes == {"counts": [None, counts]}
    assert verify_chain().intact


def test_csv_and_json_samples_describe_the_same_paths(personas):
    import_sample("csv")
    before = estate()

    output = import_sample("json")

    assert run_of(output).counts == {"unchanged": 3}
    assert estate()["paths"] == before["paths"]


@pytest.mark.parametrize("fmt", ALL_FORMATS)
def test_a_second_identical_import_changes_nothing(personas, fmt):
    import_sample(fmt)
    before = estate()
    seq = last_seq()

    output = import_sample(fmt)

    _, gone, _ = FORMATS[fmt]
    counts = {"unchanged": len(EXPECTED[fmt])} | ({"skipped_gone": gone} if gone else {})
    assert run_of(output).counts == counts
    after = estate()
    assert after["paths"] == before["paths"]  # same paths, same versions
    assert after["events"] - before["events"] == Counter({"import.applied": 1})
    assert new_events(seq) == ["import.applied"]
    # the bookkeeping moves to the latest run
    assert set(AccessPath.objects.values_list("last_import_run", flat=True)) == {run_of(output).pk}


def test_unknown_team_option_is_refused(personas):
    _, exc = run_refused(SAMPLES / "registry-paths.csv", "--format", "csv", "--team", "nope")

    assert "No team with the slug 'nope'" in str(exc)
    assert not AccessPath.objects.exists()
    assert not ImportRun.objects.exists()


# --- dry run ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ALL_FORMATS)
def test_dry_run_changes_nothing_and_reports_what_a_real_run_does(personas, fmt):
    before = snapshot()

    output = import_sample(fmt, "--dry-run")

    dry = run_of(output)
    assert snapshot() == before
    assert dry.status == ImportRun.Status.DRY_RUN and dry.dry_run
    assert summary(output).startswith("Dry run (nothing changed); created")
    assert not AuditEvent.objects.filter(action="import.applied").exists()

    real = run_of(import_sample(fmt))

    assert real.status == ImportRun.Status.APPLIED
    assert dry.counts == real.counts
    assert dry.counts["created"] == len(EXPECTED[fmt])
    assert ImportRun.objects.count() == 2


def test_dry_run_of_an_update_and_a_full_sync_changes_nothing(personas, tmp_path):
    import_sample("k8s-serviceaccounts")
    document = sample_json("k8s-serviceaccounts.json")
    document["items"] = [
        item for item in document["items"] if item["metadata"]["name"] != "coredns"
    ]
    for item in document["items"]:
        if item["metadata"]["name"] == "frontend":
            item["metadata"]["namespace"] = "staging-web"
            item["metadata"].setdefault("labels", {})["app"] = "frontend-v2"
    smaller = write_json(tmp_path, "k8s.json", document)
    before = snapshot()

    output, _ = run(smaller, "--format", "k8s-serviceaccounts", "--full-sync", "--dry-run")

    dry = run_of(output)
    assert snapshot() == before
    assert not AccessPath.objects.filter(not_seen_since__isnull=False).exists()
    real = run_of(run(smaller, "--format", "k8s-serviceaccounts", "--full-sync")[0])
    assert dry.counts == real.counts
    assert real.counts["not_seen"] == 1
    assert dry.status == ImportRun.Status.DRY_RUN and dry.full_sync


@pytest.mark.parametrize(
    ("extra", "then"),
    [
        ((), "a real run would import nothing (fix them, or use --partial)."),
        (("--partial",), "a real run with --partial would apply the other rows only."),
    ],
)
def test_a_dry_run_with_failing_rows_exits_non_zero_to_gate_a_pipeline(personas, extra, then):
    before = snapshot()

    output, exc = run_refused(
        SAMPLES / "registry-bad-row.csv", "--format", "csv", "--dry-run", *extra
    )

    assert str(exc) == f"Dry run: 2 row(s) would fail; {then} Nothing was changed."
    assert BAD_DATE in output.splitlines()
    assert snapshot() == before
    dry = run_of(output)
    assert dry.status == ImportRun.Status.DRY_RUN
    assert dry.counts == {"created": 2, "failed": 2}


def test_a_clean_dry_run_exits_zero(personas):
    output, _ = run(SAMPLES / "registry-paths.csv", "--format", "csv", "--dry-run")

    assert run_of(output).status == ImportRun.Status.DRY_RUN


# --- refusals ----------------------------------------------------------------------------

BAD_DATE = "line 4 (vault:approle/bad-date): last_used_at: not an ISO 8601 date ('yesterday')"
BAD_REASON = f"line 5 (vault:approle/bad-reason): justification: {errors.JUSTIFICATION_PLACEHOLDER}"


def test_a_source_stated_far_expiry_is_recorded_and_flagged_nhi7(personas):
    """An Entra secret ending in 2100 exists whatever the policy says: a discovery import
    records the source's expiry (a person could not set it) and posture flags it."""
    sample = SAMPLES / "entra-app-credentials-far-expiry.json"

    output, _ = run(sample, "--format", "entra-app-credentials", "--team", "platform")

    assert run_of(output).counts == {"created": 3}
    paths = {p.external_id.split("/")[1][:4]: p for p in AccessPath.objects.filter(system="entra")}
    assert paths["0a1b"].expires_at == at(2100, 1, 1)
    assert paths["1b2c"].expires_at == at(2299, 12, 31, 5)
    assert Rule.NHI7_LONG_LIVED in violations(paths["0a1b"])
    assert Rule.NHI7_LONG_LIVED in violations(paths["1b2c"])
    assert Rule.NHI7_LONG_LIVED not in violations(paths["2c3d"])  # within the policy
    again, _ = run(sample, "--format", "entra-app-credentials", "--team", "platform")
    assert run_of(again).counts == {"unchanged": 3}
    # A person still cannot ask for such an expiry.
    with pytest.raises(Invalid) as exc:
        services.path_update(
            actor=personas.sam, path=paths["2c3d"],
            changes={"expires_at": at(2100, 1, 1)}, now=NOW,
        )  # fmt: skip
    days = current_policy().max_expiry_days
    assert exc.value.errors == {"expires_at": [errors.EXPIRY_TOO_FAR.format(days=days)]}


def test_the_registry_format_keeps_the_expiry_cap(personas, tmp_path):
    row = {
        "name": "far-away", "kind": "service_account", "system": "vault",
        "external_id": "vault:approle/far-away", "environment": "prod",
        "expires_at": "2100-01-01",
    }  # fmt: skip

    output, _ = run_refused(write_csv(tmp_path, "far.csv", [row]), "--format", "csv")

    days = current_policy().max_expiry_days
    assert f"expires_at: {errors.EXPIRY_TOO_FAR.format(days=days)}" in output


def test_a_github_requests_listing_is_refused_not_imported_as_access(personas):
    before = snapshot()

    output, exc = run_refused(SAMPLES / "github-pat-requests.json", "--format", "github-pat-grants")

    assert output.splitlines()[0].startswith(
        "the file: This is a list of pending fine-grained PAT requests, not grants: item 1 "
    )
    assert "1 row(s) failed: nothing was imported" in str(exc)
    assert snapshot() == before
    assert run_of(output).status == ImportRun.Status.REFUSED


def test_a_bad_row_refuses_the_whole_import_and_names_its_line(personas):
    before = snapshot()

    output, exc = run_refused(SAMPLES / "registry-bad-row.csv", "--format", "csv")

    assert BAD_DATE in output.splitlines()
    assert BAD_REASON in output.splitlines()
    assert "2 row(s) failed: nothing was imported" in str(exc)
    assert snapshot() == before
    refused_run = run_of(output)
    assert refused_run.status == ImportRun.Status.REFUSED
    assert summary(output) == "Refused (nothing changed); created 2, failed 2"
    assert [(e["line"], e["external_id"]) for e in refused_run.errors] == [
        (4, "vault:approle/bad-date"),
        (5, "vault:approle/bad-reason"),
    ]
    assert refused_run.errors[1]["errors"] == [f"justification: {errors.JUSTIFICATION_PLACEHOLDER}"]


def test_partial_applies_the_good_rows_and_reports_the_bad(personas):
    output, _ = run(SAMPLES / "registry-bad-row.csv", "--format", "csv", "--partial")

    assert BAD_DATE in output.splitlines()
    assert BAD_REASON in output.splitlines()
    partial_run = run_of(output)
    assert partial_run.status == ImportRun.Status.APPLIED and partial_run.partial
    assert partial_run.counts == {"created": 2, "failed": 2}
    assert len(partial_run.errors) == 2
    assert set(AccessPath.objects.values_list("external_id", flat=True)) == {
        "vault:approle/good-one",
        "vault:approle/good-two",
    }
    good_two = AccessPath.objects.get(external_id="vault:approle/good-two")
    assert (good_two.state, good_two.owner_team.slug) == ("active", "payments")
    assert AuditEvent.objects.filter(action="import.applied").count() == 1


def test_unknown_team_slugs_are_row_errors_naming_them(personas, tmp_path):
    rows = [
        {"name": "a", "kind": "api_token", "system": "vault", "external_id": "vault:a",
         "environment": "dev", "owner_team": "nope", "steward_team": ""},
        {"name": "b", "kind": "api_token", "system": "vault", "external_id": "vault:b",
         "environment": "dev", "owner_team": "", "steward_team": "gone-team"},
        {"name": "c", "kind": "api_token", "system": "vault", "external_id": "vault:c",
         "environment": "dev", "owner_team": "", "steward_team": ""},
    ]  # fmt: skip
    source = write_csv(tmp_path, "teams.csv", rows)
    before = snapshot()

    output, _ = run_refused(source, "--format", "csv")

    assert "line 2 (vault:a): owner_team: no team with the slug 'nope'" in output
    assert "line 3 (vault:b): steward_team: no team with the slug 'gone-team'" in output
    assert snapshot() == before


def test_an_owner_other_than_the_registered_one_is_a_row_error(personas, make_path, tmp_path):
    path = make_path(system="vault", external_id="vault:approle/payments-job")
    rows = [
        {"system": "vault", "external_id": "vault:approle/payments-job", "owner_team": "data"},
    ]
    source = write_csv(tmp_path, "owner.csv", rows)
    before = snapshot()

    output, _ = run_refused(source, "--format", "csv")

    assert f"line 2 (vault:approle/payments-job): {errors.OWNER_DIFFERS}" in output
    assert snapshot() == before
    path.refresh_from_db()
    assert path.owner_team == personas.teams.payments


def test_the_same_owner_is_no_change(personas, make_path, tmp_path):
    path = make_path(system="vault", external_id="vault:approle/payments-job", created_via="human")
    rows = [
        {"system": "vault", "external_id": "vault:approle/payments-job",
         "owner_team": "payments", "created_via": "human"},
    ]  # fmt: skip
    source = write_csv(tmp_path, "owner.csv", rows)

    output, _ = run(source, "--format", "csv")

    assert run_of(output).counts == {"unchanged": 1}
    path.refresh_from_db()
    assert path.version == 1


# --- who may import ------------------------------------------------------------------------


def registry_rows() -> list[ImportRow]:
    with (SAMPLES / "registry-paths.csv").open("rb") as source:
        return list(registry_format.read_csv(source))


@pytest.mark.parametrize("who", ["pat", "lee", "payments_ci", "otto"])
def test_only_security_may_import(personas, who):
    runs = ImportRun.objects.count()

    with refused(NotAllowed, errors.NOT_A_SECURITY_REVIEWER):
        paths_import(
            actor=getattr(personas, who),
            rows=registry_rows(),
            source_format="csv",
            steward=personas.teams.platform,
            now=NOW,
        )

    assert ImportRun.objects.count() == runs


def test_a_security_reviewer_may_import(personas):
    report = paths_import(
        actor=personas.sam,
        rows=registry_rows(),
        source_format="csv",
        steward=personas.teams.platform,
        file_name="registry-paths.csv",
        now=NOW,
    )

    assert report.applied
    assert report.counts == {"created": 3}
    assert report.run.started_by == personas.users.sam
    assert report.run.actor_label == personas.sam.label
    labels = set(AuditEvent.objects.filter(seq__gt=0).values_list("actor_label", "action"))
    assert (personas.sam.label, "import.applied") in labels
    assert (personas.sam.label, "access_path.registered") in labels
