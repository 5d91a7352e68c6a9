"""`manage.py import_paths` and registry.services.imports.paths_import: access paths
from the registry's own csv/json and from five sources' exports, upserted by (system,
external_id) through the path services.

Every format registers the paths its sample describes (with the facts the posture rules
read); a second identical import changes nothing but records its run; a dry run reports
exactly what a real run then does and changes nothing; a bad row refuses the whole
import (naming its line and reason) unless --partial; history ("last attested") is
carried into the review clock; a full sync flags what its source no longer lists; a
source that reports a credential disabled or expired retires it; only security (or the
system) imports; an export imports back unchanged; progress is reported.

The command reads the clock itself: it is pinned at NOW, the moment the samples
describe (see `clock`)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from registry import services
from registry.audit import verify_chain
from registry.importers import registry_format
from registry.importers.base import ImportRow
from registry.models import AccessPath, AuditEvent, ImportRun, PolicyException
from registry.rules import errors
from registry.rules.errors import Invalid, NotAllowed
from registry.rules.policies import current_policy
from registry.rules.posture import path_violations
from registry.selectors import path_list
from registry.selectors.dashboard import dashboard_stats
from registry.services.imports import paths_import
from tests.assertions import refused, snapshot
from tests.conftest import NOW

pytestmark = pytest.mark.django_db

SAMPLES = Path(__file__).parent / "samples"
DAY = dt.timedelta(days=1)
Rule = PolicyException.Rule
ARN = "arn:aws:iam::123456789012:user/"
GCP_BILLING_KEY = (
    "projects/acme-payments-prod/serviceAccounts/"
    "billing-export@acme-payments-prod.iam.gserviceaccount.com/keys/"
    "3f1c9a7be2d04c5e8a61b0f2d7e94c13a85b6d20"
)
GCP_ETL_KEY = (
    "projects/acme-data-staging/serviceAccounts/"
    "etl-loader@acme-data-staging.iam.gserviceaccount.com/keys/"
    "b71e08d2c94f3a6510e7d2b4c8a9f06e3d5b1c72"
)
GCP_DISABLED_KEY = (
    "projects/acme-data-staging/serviceAccounts/"
    "etl-loader@acme-data-staging.iam.gserviceaccount.com/keys/"
    "04ac5e9b3d2f17c86e0a4b9d1f35c7e28a6d0b91"
)
ENTRA_APP = "3f2b8c1d-7e4a-4b6c-9d0e-1a2b3c4d5e6f"
ENTRA_EXPIRED = f"{ENTRA_APP}/7b2c3d4e-5f6a-4b7c-9d8e-0f1a2b3c4d5e"


def at(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture(autouse=True)
def clock(monkeypatch) -> Clock:
    """The services read django.utils.timezone.now when given no time (the command gives
    none): pin it, and let a test move it on."""
    pinned = Clock()
    monkeypatch.setattr(timezone, "now", pinned)
    return pinned


# --- helpers ---------------------------------------------------------------------------


def run(*args: object, progress: bool = False) -> tuple[str, str]:
    """Run the command; (stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    extra = [] if progress else ["--no-progress"]
    call_command("import_paths", *map(str, args), *extra, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def run_refused(*args: object) -> tuple[str, CommandError]:
    out = io.StringIO()
    with pytest.raises(CommandError) as exc:
        call_command(
            "import_paths", *map(str, args), "--no-progress", stdout=out, stderr=io.StringIO()
        )
    return out.getvalue(), exc.value


def import_sample(fmt: str, *extra: object) -> str:
    sample, _, _ = FORMATS[fmt]
    out, _ = run(SAMPLES / sample, "--format", fmt, "--team", "platform", *extra)
    return out


def run_of(output: str) -> ImportRun:
    """The ImportRun a command's output reports ("import <id>: <status>; <counts>")."""
    match = re.search(r"^import ([0-9a-f-]{36}): ", output, re.MULTILINE)
    assert match, output
    return ImportRun.objects.get(pk=match.group(1))


def summary(output: str) -> str:
    (line,) = [line for line in output.splitlines() if line.startswith("import ")]
    return line.split(": ", 1)[1]


def estate() -> dict[str, Any]:
    """What an import must not change when it has nothing to do: the paths and their
    versions, and the audit events by action."""
    return {
        "paths": dict(AccessPath.objects.values_list("pk", "version")),
        "events": Counter(AuditEvent.objects.values_list("action", flat=True)),
    }


def new_events(since: int) -> list[str]:
    return list(
        AuditEvent.objects.filter(seq__gt=since).order_by("seq").values_list("action", flat=True)
    )


def last_seq() -> int:
    event = AuditEvent.objects.order_by("-seq").first()
    return event.seq if event else 0


def by_external_id() -> dict[str, AccessPath]:
    return {
        p.external_id: p
        for p in AccessPath.objects.select_related("owner_team", "steward_team").prefetch_related(
            "tags"
        )
    }


def violations(path: AccessPath) -> set[str]:
    return {rule.code for rule in path_violations(path, now=NOW, policy=current_policy())}


def write_csv(tmp_path: Path, name: str, rows: list[dict[str, Any]]) -> Path:
    target = tmp_path / name
    with target.open("w", newline="", encoding="utf-8") as out:
        columns = list(dict.fromkeys(key for row in rows for key in row))
        writer = csv.DictWriter(out, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return target


def write_json(tmp_path: Path, name: str, document: Any) -> Path:
    target = tmp_path / name
    target.write_text(json.dumps(document), encoding="utf-8")
    return target


def sample_json(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text(encoding="utf-8"))


# --- every format: what a sample registers -----------------------------------------------

REGISTRY_PATHS = {
    "vault:approle/billing-reader": {
        "name": "vault-billing-reader",
        "kind": "service_account",
        "system": "vault",
        "environment": "prod",
        "state": "active",
        "owner": "payments",
        "steward": "platform",  # --team: the row names none
        "created_via": "pipeline",
        "created_by_ref": "terraform/billing",
        "consumers": "billing-export",
        "ticket_url": "https://tickets.example.com/browse/SEC-2001",
        "risk_tier": "high",
        "credential_lifetime": "static",
        "rotation_days": 90,
        "last_rotated_at": at(2026, 1, 10, 8),
        "last_used_at": at(2026, 2, 1, 3),  # 294 days before NOW: a stale record
        "expires_at": at(2027, 6, 30),
        "interactive_login": False,
        "tags": {"billing", "pci"},
        "breaks": {Rule.NHI7_LONG_LIVED, Rule.STALE_RECORD},  # rotation due 2026-04-10
        "keeps": {Rule.NHI10_HUMAN_USE, Rule.NHI5_OVERPRIVILEGED, Rule.NO_EXPIRY},
    },
    "vault:userpass/ops-console": {
        "name": "vault-ops-console",
        "state": "unowned",
        "owner": None,
        "steward": "platform",  # --team: the row names none
        "created_via": "unknown",  # not stated: the registry does not guess
        "credential_lifetime": "long_lived",
        "last_used_at": at(2026, 11, 20, 8, 30),  # +01:00 normalised
        "interactive_login": True,
        "expires_at": None,
        "tags": set(),
        "breaks": {Rule.NHI10_HUMAN_USE},
        "keeps": {Rule.STALE_RECORD},
    },
    "vault:token/data-export": {
        "kind": "api_token",
        "environment": "staging",
        "state": "active",
        "owner": "data",
        "steward": "security",
        "created_via": "iac",
        "risk_tier": "low",
        "credential_lifetime": "short_lived",
        "last_used_at": at(2026, 11, 21),  # a date alone is midnight UTC
        "expires_at": at(2027, 1, 31),  # no offset: UTC
        "breaks": {Rule.NHI5_OVERPRIVILEGED, Rule.NHI9_REUSE},
        "keeps": {Rule.STALE_RECORD, Rule.NHI7_LONG_LIVED, Rule.NHI10_HUMAN_USE},
    },
}

# Every path a source format registers is unowned, stewarded by --team.
SOURCE = {"state": "unowned", "owner": None, "steward": "platform", "created_via": "discovery"}

EXPECTED: dict[str, dict[str, dict[str, Any]]] = {
    "csv": REGISTRY_PATHS,
    "json": REGISTRY_PATHS,
    "aws-credential-report": {
        ARN + "teams/payments/billing-export": {
            **SOURCE,
            "name": "billing-export",
            "kind": "service_account",
            "system": "aws",
            "environment": "other",
            "credential_lifetime": "static",
            "last_rotated_at": at(2026, 9, 15, 11, 30),
            "last_used_at": at(2026, 11, 21, 2),
            "interactive_login": False,
            "keeps": {Rule.NHI7_LONG_LIVED, Rule.NHI10_HUMAN_USE, Rule.STALE_RECORD},
        },
        ARN + "ci-deployer": {
            **SOURCE,
            "last_rotated_at": at(2025, 3, 4, 16, 20),  # static, rotated 20 months ago
            "last_used_at": at(2026, 11, 20, 7, 45),
            "breaks": {Rule.NHI7_LONG_LIVED},
            "keeps": {Rule.NHI10_HUMAN_USE, Rule.STALE_RECORD},
        },
        ARN + "reporting-bot": {
            **SOURCE,
            "interactive_login": True,  # a console password: NHI10
            "last_used_at": None,
            "breaks": {Rule.NHI10_HUMAN_USE, Rule.NHI7_LONG_LIVED},
        },
        ARN + "cert-signer": {**SOURCE, "last_rotated_at": at(2024, 1, 1)},
    },
    "gcp-sa-keys": {
        GCP_BILLING_KEY: {
            **SOURCE,
            "system": "gcp",
            "kind": "service_account",
            "credential_lifetime": "static",
            "last_rotated_at": at(2025, 2, 3, 10, 20, 30),
            "expires_at": None,
            "breaks": {Rule.NHI7_LONG_LIVED},
        },
        GCP_ETL_KEY: {
            **SOURCE,
            "credential_lifetime": "long_lived",
            "expires_at": at(2027, 1, 13),
            "keeps": {Rule.NHI7_LONG_LIVED},
        },
    },
    "github-pat-grants": {
        "github-pat-grant:25381": {
            **SOURCE,
            "name": "deploy-docs (octocat)",
            "kind": "api_token",
            "system": "github",
            "created_by_ref": "octocat",
            "credential_lifetime": "long_lived",
            "last_used_at": at(2026, 11, 20, 22, 2, 11),
            "expires_at": at(2027, 5, 16, 15, 47, 9),
        },
        "github-pat-grant:25390": {**SOURCE, "credential_lifetime": "static", "expires_at": None},
        "github-pat-grant:25402": {**SOURCE, "credential_lifetime": "short_lived"},
    },
    "k8s-serviceaccounts": {
        "payments-prod/billing-export": {
            **SOURCE,
            "kind": "workload_identity",
            "system": "kubernetes",
            "environment": "prod",
            "credential_lifetime": "ephemeral",
            "consumers": "billing-export",
            "created_by_ref": "Helm release billing",
            "keeps": {Rule.NHI7_LONG_LIVED},
        },
        "staging-web/frontend": {**SOURCE, "environment": "staging"},
        "dev-tools/legacy-ci": {
            **SOURCE,
            "kind": "service_account",
            "environment": "dev",
            "credential_lifetime": "static",
        },
        "product-catalog/catalog-api": {**SOURCE, "environment": "other"},
        "kube-system/coredns": {**SOURCE, "environment": "other"},
    },
    "entra-app-credentials": {
        f"{ENTRA_APP}/6a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d": {
            **SOURCE,
            "name": "Billing Export: prod secret 2026",
            "kind": "oauth_client",
            "system": "entra",
            "credential_lifetime": "long_lived",
            "last_rotated_at": at(2026, 3, 1, 10, 15, 30, 123000),
            "expires_at": at(2027, 3, 1, 10, 15, 30, 123000),
        },
        f"{ENTRA_APP}/8c3d4e5f-6a7b-4c8d-0e9f-1a2b3c4d5e6f": {
            **SOURCE,
            "name": "Billing Export: CN=billing-export",
            "kind": "certificate",
        },
        "c4d5e6f7-a8b9-4c0d-1e2f-3a4b5c6d7e8f/9d4e5f6a-7b8c-4d9e-1f0a-2b3c4d5e6f7a": {
            **SOURCE,
            "expires_at": at(2028, 8, 3, 9, 30, 12, 442346),
        },
    },
}

# format: (sample, rows it reports disabled or already expired, ids it must not register)
FORMATS: dict[str, tuple[str, int, set[str]]] = {
    "csv": ("registry-paths.csv", 0, set()),
    "json": ("registry-paths.json", 0, set()),
    "aws-credential-report": (
        "aws-credential-report.csv",
        2,
        {ARN + "alice", ARN + "legacy-sync", "arn:aws:iam::123456789012:root"},
    ),
    "gcp-sa-keys": ("gcp-sa-keys.json", 1, {GCP_DISABLED_KEY}),
    "github-pat-grants": ("github-pat-grants.json", 1, {"github-pat-grant:25407"}),
    "k8s-serviceaccounts": (
        "k8s-serviceaccounts.json",
        0,
        {"default/default", "staging-web/default", "payments-prod/default"},
    ),
    "entra-app-credentials": ("entra-app-credentials.json", 1, {ENTRA_EXPIRED}),
}
ALL_FORMATS = list(FORMATS)


def check_path(path: AccessPath, expected: dict[str, Any]) -> None:
    for key, value in expected.items():
        if key == "owner":
            actual = path.owner_team.slug if path.owner_team else None
        elif key == "steward":
            actual = path.steward_team.slug if path.steward_team else None
        elif key == "tags":
            actual = {tag.slug for tag in path.tags.all()}
        elif key in ("breaks", "keeps"):
            continue
        else:
            actual = getattr(path, key)
        assert actual == value, (path.external_id, key)
    found = violations(path)
    assert expected.get("breaks", set()) <= found, (path.external_id, found)
    assert not expected.get("keeps", set()) & found, (path.external_id, found)


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


# --- history -------------------------------------------------------------------------------


def test_last_attested_history_moves_the_review_clock(personas, make_path, tmp_path):
    path = make_path(system="vault", external_id="vault:approle/legacy", created_via="discovery")
    assert path.last_attested_at is None and path.next_review_at == NOW + 90 * DAY
    attested = NOW - 20 * DAY
    new_attested = NOW - 10 * DAY
    rows = [
        {"system": "vault", "external_id": "vault:approle/legacy", "name": "",
         "kind": "", "environment": "", "owner_team": "", "justification": "",
         "ticket_url": "", "last_attested_at": attested.isoformat()},
        {"system": "vault", "external_id": "vault:approle/new", "name": "new-legacy-job",
         "kind": "ci_secret", "environment": "prod", "owner_team": "payments",
         "justification": "The release pipeline signs artefacts with this key.",
         "ticket_url": "https://tickets.example.com/browse/SEC-9", "last_attested_at":
         new_attested.isoformat()},
    ]  # fmt: skip
    seq = last_seq()

    output, _ = run(write_csv(tmp_path, "history.csv", rows), "--format", "csv")

    assert run_of(output).counts == {"created": 1, "updated": 1}
    path.refresh_from_db()
    assert path.last_attested_at == attested
    assert path.next_review_at == attested + dt.timedelta(days=path.review_interval_days)
    assert path.version == 2
    created = AccessPath.objects.get(external_id="vault:approle/new")
    assert created.last_attested_at == new_attested
    assert created.next_review_at == new_attested + dt.timedelta(days=created.review_interval_days)
    assert new_events(seq) == [
        "access_path.history_imported",
        "access_path.registered",
        "access_path.history_imported",
        "import.applied",
    ]
    event = AuditEvent.objects.filter(action="access_path.history_imported", path=path).get()
    assert event.actor_label == "import_paths"
    assert "before this registry" in event.reason
    assert set(event.changes) == {"last_attested_at", "next_review_at"}

    # an older review than the registry's is ignored
    rows[0]["last_attested_at"] = (NOW - 30 * DAY).isoformat()
    rows[1]["last_attested_at"] = new_attested.isoformat()
    seq = last_seq()

    output, _ = run(write_csv(tmp_path, "older.csv", rows), "--format", "csv")

    assert run_of(output).counts == {"unchanged": 2}
    assert new_events(seq) == ["import.applied"]
    path.refresh_from_db()
    assert (path.last_attested_at, path.version) == (attested, 2)


def test_history_older_than_a_real_attestation_is_ignored(personas, make_path, tmp_path):
    path = make_path(system="vault", external_id="vault:approle/attested", created_via="discovery")
    services.path_attest(
        actor=personas.lee,
        path=path,
        decision="keep",
        still_needed=True,
        justification_accurate=True,
        least_privilege=True,
        no_human_use=True,
        now=NOW - DAY,
    )
    path.refresh_from_db()
    rows = [{"system": "vault", "external_id": "vault:approle/attested",
             "last_attested_at": (NOW - 5 * DAY).isoformat()}]  # fmt: skip
    before = estate()

    output, _ = run(write_csv(tmp_path, "h.csv", rows), "--format", "csv")

    assert run_of(output).counts == {"unchanged": 1}
    assert estate()["paths"] == before["paths"]
    after = AccessPath.objects.get(pk=path.pk)
    assert (after.last_attested_at, after.next_review_at) == (NOW - DAY, path.next_review_at)


# --- full sync -----------------------------------------------------------------------------

K8S_MISSED = {"kube-system/coredns", "product-catalog/catalog-api"}


def k8s_without(tmp_path: Path, names: set[str], file_name: str = "k8s-smaller.json") -> Path:
    document = sample_json("k8s-serviceaccounts.json")
    document["items"] = [
        item
        for item in document["items"]
        if f"{item['metadata'].get('namespace')}/{item['metadata']['name']}" not in names
    ]
    return write_json(tmp_path, file_name, document)


def not_seen_headline(personas) -> int:
    stats = dashboard_stats(actor=personas.sam, now=timezone.now(), policy=current_policy())
    (figure,) = [f for f in stats.headline if f.label == "Not seen in last sync"]
    assert figure.query == "not_seen=true"
    return figure.count


def listed(personas, **filters: str) -> set[tuple[str, str]]:
    """(system, external_id) of the inventory's paths under these filters."""
    paths = path_list(actor=personas.sam, filters=filters, now=timezone.now())
    return set(paths.values_list("system", "external_id"))


def k8s(*external_ids: str) -> set[tuple[str, str]]:
    return {("kubernetes", external_id) for external_id in external_ids}


def test_full_sync_flags_the_live_paths_its_source_no_longer_lists(
    personas, make_path, tmp_path, clock
):
    import_sample("k8s-serviceaccounts")
    # the same source for another cluster, other sources, and other ways in
    import_sample("k8s-serviceaccounts", "--system", "kubernetes-eu")
    import_sample("gcp-sa-keys")
    csv_rows = [{"name": "metrics", "kind": "service_account", "system": "kubernetes",
                 "external_id": "kube-system/metrics-server", "environment": "other"}]  # fmt: skip
    run(write_csv(tmp_path, "k8s.csv", csv_rows), "--format", "csv")
    manual = make_path(system="kubernetes", external_id="payments-prod/manual")
    # a revoked path the source no longer lists is no candidate for retirement
    frontend = AccessPath.objects.get(system="kubernetes", external_id="staging-web/frontend")
    services.path_revoke(actor=personas.sam, path=frontend, reason="Decommissioned.", now=NOW)
    clock.now = later = NOW + dt.timedelta(hours=6)
    before = estate()

    output, _ = run(
        k8s_without(tmp_path, K8S_MISSED | {"staging-web/frontend"}),
        "--format",
        "k8s-serviceaccounts",
        "--full-sync",
    )

    sync = run_of(output)
    assert sync.counts == {"unchanged": 2, "not_seen": 2}
    assert sync.full_sync
    flagged = AccessPath.objects.filter(not_seen_since__isnull=False)
    assert {(p.system, p.external_id) for p in flagged} == k8s(*K8S_MISSED)
    assert set(flagged.values_list("not_seen_since", flat=True)) == {later}
    # flagging is bookkeeping: no version bump, no audit event but the run's
    assert estate()["paths"] == before["paths"]
    assert estate()["events"] - before["events"] == Counter({"import.applied": 1})
    assert AccessPath.objects.get(pk=manual.pk).not_seen_since is None
    assert not_seen_headline(personas) == 2
    assert listed(personas, not_seen="true") == k8s(*K8S_MISSED)
    everything = set(AccessPath.objects.values_list("system", "external_id"))
    assert listed(personas, not_seen="false") == everything - k8s(*K8S_MISSED)

    # a second full sync that misses them again keeps the first date
    clock.now = NOW + dt.timedelta(hours=12)
    output, _ = run(
        k8s_without(tmp_path, K8S_MISSED | {"staging-web/frontend"}),
        "--format",
        "k8s-serviceaccounts",
        "--full-sync",
    )
    assert run_of(output).counts["not_seen"] == 0
    assert set(flagged.values_list("not_seen_since", flat=True)) == {later}

    # seen again (in any later import of the source) clears the flag
    clock.now = NOW + dt.timedelta(days=1)
    output, _ = run(
        k8s_without(tmp_path, {"kube-system/coredns", "staging-web/frontend"}),
        "--format",
        "k8s-serviceaccounts",
    )
    assert run_of(output).counts == {"unchanged": 3}
    catalog = AccessPath.objects.get(system="kubernetes", external_id="product-catalog/catalog-api")
    assert (catalog.not_seen_since, catalog.last_seen_at) == (None, NOW + dt.timedelta(days=1))
    assert listed(personas, not_seen="true") == k8s("kube-system/coredns")
    assert not_seen_headline(personas) == 1


def test_a_flagged_path_that_stops_being_live_leaves_the_headline(personas, tmp_path):
    import_sample("k8s-serviceaccounts")
    run(k8s_without(tmp_path, K8S_MISSED), "--format", "k8s-serviceaccounts", "--full-sync")
    coredns = AccessPath.objects.get(external_id="kube-system/coredns")

    services.path_revoke(actor=personas.sam, path=coredns, reason="Gone from the cluster.")

    assert not_seen_headline(personas) == 1
    assert listed(personas, not_seen="true") == k8s("product-catalog/catalog-api")


def test_full_sync_of_the_registry_format_flags_only_its_own_system(personas, tmp_path):
    import_sample("csv")
    import_sample("aws-credential-report")
    rows = [{"name": "vault-data-export", "kind": "api_token", "system": "vault",
             "external_id": "vault:token/data-export", "environment": "staging",
             "created_via": "iac"}]  # fmt: skip

    output, _ = run(write_csv(tmp_path, "vault.csv", rows), "--format", "csv", "--full-sync")

    assert run_of(output).counts == {"unchanged": 1, "not_seen": 2}
    assert listed(personas, not_seen="true") == {
        ("vault", "vault:approle/billing-reader"),
        ("vault", "vault:userpass/ops-console"),
    }


# --- disabled and expired credentials ------------------------------------------------------


def test_disabled_or_expired_credentials_are_not_registered(personas):
    for fmt in (
        "aws-credential-report",
        "gcp-sa-keys",
        "github-pat-grants",
        "entra-app-credentials",
    ):
        import_sample(fmt)

    registered = set(AccessPath.objects.values_list("external_id", flat=True))
    for fmt in (
        "aws-credential-report",
        "gcp-sa-keys",
        "github-pat-grants",
        "entra-app-credentials",
    ):
        assert not FORMATS[fmt][2] & registered
    assert not AuditEvent.objects.filter(action="access_path.revoked").exists()


def test_a_registered_live_path_reported_disabled_is_revoked(personas, make_path, tmp_path):
    alice = make_path(system="aws", external_id=ARN + "alice", created_via="discovery")
    import_sample("gcp-sa-keys")
    etl = AccessPath.objects.get(external_id=GCP_ETL_KEY)
    seq = last_seq()

    output = import_sample("aws-credential-report")

    assert run_of(output).counts == {"created": 4, "revoked": 1, "skipped_gone": 1}
    alice.refresh_from_db()
    assert alice.state == AccessPath.State.REVOKED
    event = AuditEvent.objects.get(action="access_path.revoked", path=alice, seq__gt=seq)
    assert event.actor_label == "import_paths"
    assert event.reason == "The aws-credential-report import reports it disabled."

    # a GCP key disabled since the last import
    document = sample_json("gcp-sa-keys.json")
    for key in document:
        if key["name"] == GCP_ETL_KEY:
            key["disabled"] = True
    output, _ = run(write_json(tmp_path, "gcp.json", document), "--format", "gcp-sa-keys")

    assert run_of(output).counts == {"unchanged": 1, "revoked": 1, "skipped_gone": 1}
    etl.refresh_from_db()
    assert etl.state == AccessPath.State.REVOKED
    event = AuditEvent.objects.get(action="access_path.revoked", path=etl)
    assert "gcp-sa-keys import" in event.reason and "disabled" in event.reason

    # reported disabled again: already revoked, nothing to do
    before = estate()
    output, _ = run(write_json(tmp_path, "gcp.json", document), "--format", "gcp-sa-keys")
    assert run_of(output).counts == {"unchanged": 2, "skipped_gone": 1}
    assert estate()["paths"] == before["paths"]


def test_a_registered_live_path_reported_expired_is_revoked(personas, make_path):
    secret = make_path(
        system="entra",
        external_id=ENTRA_EXPIRED,
        expires_at=NOW + 30 * DAY,
        created_via="discovery",
    )

    output = import_sample("entra-app-credentials")

    assert run_of(output).counts == {"created": 3, "revoked": 1}
    secret.refresh_from_db()
    assert secret.state == AccessPath.State.REVOKED
    event = AuditEvent.objects.get(action="access_path.revoked", path=secret)
    assert event.reason == "The entra-app-credentials import reports it expired on 2026-06-01."


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


def export(fmt: str, target: Path) -> Path:
    call_command("export_paths", "--format", fmt, "--output", str(target))
    return target


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


# --- bugs found while writing these tests, now fixed -------------------------------------


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
