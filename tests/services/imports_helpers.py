"""Helpers shared by the import_paths tests (tests/services/test_imports_*.py): running
the command, reading what it did, writing files to import, and what each format's
sample registers."""

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

from registry.models import AccessPath, AuditEvent, ImportRun, PolicyException
from registry.rules.policies import current_policy
from registry.rules.posture import path_violations
from registry.selectors import path_list
from tests.conftest import NOW

SAMPLES = Path(__file__).parents[1] / "samples"
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


def listed(personas, **filters: str) -> set[tuple[str, str]]:
    """(system, external_id) of the inventory's paths under these filters."""
    paths = path_list(actor=personas.sam, filters=filters, now=timezone.now())
    return set(paths.values_list("system", "external_id"))


def export(fmt: str, target: Path) -> Path:
    call_command("export_paths", "--format", fmt, "--output", str(target))
    return target
