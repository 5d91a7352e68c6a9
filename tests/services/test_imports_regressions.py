"""Import bugs found while writing the import tests, now fixed.

The command's clock is pinned at NOW (the `clock` fixture, tests/services/conftest.py)."""

from __future__ import annotations

import pytest

from registry import services
from registry.models import AccessPath, ImportRun
from registry.rules import errors
from tests.services.imports_helpers import (
    ARN,
    SAMPLES,
    Rule,
    estate,
    export,
    import_sample,
    listed,
    run,
    run_of,
    run_refused,
    violations,
    write_csv,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clock")]


def test_a_row_that_does_not_state_created_via_leaves_it_alone(personas, make_path, tmp_path):
    path = make_path(system="vault", external_id="vault:approle/manual", created_via="human")
    rows = [{"system": "vault", "external_id": "vault:approle/manual", "consumers": ""}]

    output, _ = run(write_csv(tmp_path, "touch.csv", rows), "--format", "csv")

    path.refresh_from_db()
    assert path.created_via == "human"
    assert run_of(output).counts == {"unchanged": 1}


def test_an_aws_password_removed_clears_interactive_login(personas, tmp_path):
    import_sample("aws-credential-report")
    bot = AccessPath.objects.get(external_id=ARN + "reporting-bot")
    assert bot.interactive_login
    user = f"reporting-bot,{ARN}reporting-bot,2014-08-20T14:00:00+00:00"
    text = (SAMPLES / "aws-credential-report.csv").read_text()
    assert f"{user},true," in text
    report = tmp_path / "aws.csv"
    report.write_text(text.replace(f"{user},true,", f"{user},false,"))

    output, _ = run(report, "--format", "aws-credential-report", "--team", "platform")

    bot.refresh_from_db()
    assert bot.interactive_login is False
    assert Rule.NHI10_HUMAN_USE not in violations(bot)
    assert run_of(output).counts == {"updated": 1, "unchanged": 3, "skipped_gone": 2}


def test_the_team_option_does_not_replace_a_chosen_steward(personas):
    import_sample("k8s-serviceaccounts")
    coredns = AccessPath.objects.get(external_id="kube-system/coredns")
    services.path_update(
        actor=personas.sam, path=coredns, changes={"steward_team": personas.teams.security}
    )
    before = estate()

    output = import_sample("k8s-serviceaccounts")

    coredns.refresh_from_db()
    assert coredns.steward_team == personas.teams.security
    assert run_of(output).counts == {"unchanged": 5}
    assert estate()["paths"] == before["paths"]


def test_a_partial_full_sync_does_not_flag_a_listed_path_whose_row_failed(personas, tmp_path):
    import_sample("csv")
    rows = [
        {"name": "vault-ops-console", "kind": "service_account", "system": "vault",
         "external_id": "vault:userpass/ops-console", "environment": "prod",
         "ticket_url": "ftp://tickets.example.com/1"},
        {"name": "vault-data-export", "kind": "api_token", "system": "vault",
         "external_id": "vault:token/data-export", "environment": "staging",
         "created_via": "iac", "ticket_url": ""},
    ]  # fmt: skip

    output, _ = run(
        write_csv(tmp_path, "vault.csv", rows), "--format", "csv", "--partial", "--full-sync"
    )

    assert run_of(output).counts["failed"] == 1
    assert listed(personas, not_seen="true") == {("vault", "vault:approle/billing-reader")}


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_an_export_with_a_revoked_path_imports_back_unchanged(personas, make_path, tmp_path, fmt):
    gone = make_path(system="vault", external_id="vault:approle/gone")
    make_path(system="vault", external_id="vault:approle/kept")
    services.path_revoke(actor=personas.sam, path=gone, reason="Decommissioned with the app.")
    exported = export(fmt, tmp_path / f"estate.{fmt}")
    before = estate()

    output, _ = run(exported, "--format", fmt)

    assert run_of(output).counts == {"listed_but_retired": 1, "unchanged": 1}
    assert estate()["paths"] == before["paths"]


def test_a_source_still_listing_a_revoked_path_does_not_refuse_the_import(personas):
    import_sample("k8s-serviceaccounts")
    legacy = AccessPath.objects.get(external_id="dev-tools/legacy-ci")
    services.path_revoke(actor=personas.sam, path=legacy, reason="Replaced by a bound token.")

    output = import_sample("k8s-serviceaccounts")

    assert run_of(output).status == ImportRun.Status.APPLIED
    legacy.refresh_from_db()
    assert legacy.state == AccessPath.State.REVOKED


def test_a_csv_round_trip_keeps_values_the_injection_guard_quoted(personas, make_path, tmp_path):
    make_path(
        system="vault",
        external_id="vault:approle/formula",
        name="=billing-export",
        consumers="-nightly-job",
    )
    exported = export("csv", tmp_path / "estate.csv")
    assert "'=billing-export" in exported.read_text()

    output, _ = run(exported, "--format", "csv")

    assert run_of(output).counts == {"unchanged": 1}
    assert AccessPath.objects.get().name == "=billing-export"


def test_rows_for_the_same_path_apply_in_file_order(personas, tmp_path):
    rows = [
        {"name": "first-name", "kind": "api_token", "system": "vault",
         "external_id": "vault:dup", "environment": "dev", "tags": "legacy"},
        {"name": "second-name", "kind": "api_token", "system": "vault",
         "external_id": "vault:dup", "environment": "dev", "tags": ""},
    ]  # fmt: skip

    run(write_csv(tmp_path, "dup.csv", rows), "--format", "csv")

    path = AccessPath.objects.get(external_id="vault:dup")
    assert path.name == "second-name"


def test_a_row_without_external_id_is_refused(personas, tmp_path):
    rows = [{"name": "no-id", "kind": "api_token", "system": "vault", "external_id": "",
             "environment": "dev"}]  # fmt: skip
    source = write_csv(tmp_path, "no-id.csv", rows)

    output, _ = run_refused(source, "--format", "csv")

    assert f"line 2: external_id: {errors.REQUIRED}" in output
    assert not AccessPath.objects.exists()
