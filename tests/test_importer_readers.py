"""The source-format readers (registry.importers.*): each sample in tests/samples, which
follow the real formats, reads to exactly the rows expected; broken files give row
errors with their line numbers and never an exception; nothing secret-shaped is kept."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from registry.importers import (
    aws_credential_report,
    entra_app_credentials,
    gcp_sa_keys,
    github_pat_grants,
    k8s_serviceaccounts,
)
from registry.importers.base import ImportRow
from registry.models import AccessPath
from registry.services.paths import EDITABLE_FIELDS

SAMPLES = Path(__file__).parent / "samples"
UTC = dt.UTC
Reader = Callable[..., Iterator[ImportRow]]

CHOICES = {
    "kind": set(AccessPath.Kind.values),
    "environment": set(AccessPath.Environment.values),
    "created_via": set(AccessPath.CreatedVia.values),
    "credential_lifetime": set(AccessPath.CredentialLifetime.values),
    "risk_tier": set(AccessPath.RiskTier.values),
}
DATETIME_FIELDS = {"last_rotated_at", "last_used_at", "expires_at"}

# (reader, sample, default system, rows read, lines of those rows)
FORMATS = [
    pytest.param(
        aws_credential_report.read,
        "aws-credential-report.csv",
        "aws",
        [3, 4, 5, 6, 7, 8],
        id="aws",
    ),
    pytest.param(gcp_sa_keys.read, "gcp-sa-keys.json", "gcp", [1, 3, 4], id="gcp"),
    pytest.param(
        github_pat_grants.read, "github-pat-grants.json", "github", [1, 2, 3, 4], id="github"
    ),
    pytest.param(
        k8s_serviceaccounts.read,
        "k8s-serviceaccounts.json",
        "kubernetes",
        [2, 3, 5, 6, 7],
        id="kubernetes",
    ),
    pytest.param(
        entra_app_credentials.read,
        "entra-app-credentials.json",
        "entra",
        [1, 1, 1, 3],
        id="entra",
    ),
]


def read(reader: Reader, sample: str, **kwargs: Any) -> list[ImportRow]:
    with (SAMPLES / sample).open("rb") as source:
        return list(reader(source, **kwargs))


def read_bytes(reader: Reader, content: bytes, **kwargs: Any) -> list[ImportRow]:
    source: BinaryIO = io.BytesIO(content)
    return list(reader(source, **kwargs))


def by_external_id(rows: list[ImportRow]) -> dict[str, ImportRow]:
    return {row.data["external_id"]: row for row in rows}


def at(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


# --- every format --------------------------------------------------------------------


@pytest.mark.parametrize(("reader", "sample", "system", "lines"), FORMATS)
def test_sample_reads_to_valid_rows(reader, sample, system, lines):
    rows = read(reader, sample)

    assert [row.line for row in rows] == lines
    assert all(row.errors == [] for row in rows)
    external_ids = [row.data["external_id"] for row in rows]
    assert len(set(external_ids)) == len(external_ids)
    for row in rows:
        assert set(row.data) <= EDITABLE_FIELDS | {"tags"}
        assert {"name", "kind", "system", "external_id", "environment"} <= set(row.data)
        assert row.data["system"] == system
        assert row.data["created_via"] == "discovery"
        for field_name, allowed in CHOICES.items():
            if field_name in row.data:
                assert row.data[field_name] in allowed, (field_name, row.data[field_name])
        for field_name in DATETIME_FIELDS & set(row.data):
            assert row.data[field_name].utcoffset() == dt.timedelta(0)
        assert all(isinstance(value, str) for value in row.hints.values())


@pytest.mark.parametrize(("reader", "sample", "system", "lines"), FORMATS)
def test_system_argument_overrides_the_default(reader, sample, system, lines):
    rows = read(reader, sample, system="acme-prod-eu")

    assert len(rows) == len(lines)
    assert {row.data["system"] for row in rows} == {"acme-prod-eu"}


@pytest.mark.parametrize(
    "reader",
    [
        gcp_sa_keys.read,
        github_pat_grants.read,
        k8s_serviceaccounts.read,
        entra_app_credentials.read,
    ],
)
@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'[{"name": "x",', "Not valid JSON"),
        (b"", "Not valid JSON"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        (b'"just a string"', "Expected"),
        (b"42", "Expected"),
    ],
)
def test_unreadable_json_is_one_file_error(reader, content, message):
    rows = read_bytes(reader, content)

    assert len(rows) == 1
    assert rows[0].line == 0
    assert message in rows[0].errors[0]
    assert rows[0].data == {}


@pytest.mark.parametrize(
    "reader",
    [
        gcp_sa_keys.read,
        github_pat_grants.read,
        k8s_serviceaccounts.read,
        entra_app_credentials.read,
    ],
)
def test_non_object_items_are_row_errors(reader):
    content = b'{"kind": "List", "items": [7], "value": [7]}'
    if reader in (gcp_sa_keys.read, github_pat_grants.read):
        content = b"[7]"

    rows = read_bytes(reader, content)

    assert [(row.line, row.errors) for row in rows] == [(1, ["Not a JSON object."])]


# --- AWS IAM credential report ---------------------------------------------------------


def test_aws_rows():
    rows = by_external_id(read(aws_credential_report.read, "aws-credential-report.csv"))
    arn = "arn:aws:iam::123456789012:user/"

    billing = rows[arn + "teams/payments/billing-export"]
    assert billing.data == {
        "system": "aws",
        "external_id": arn + "teams/payments/billing-export",
        "name": "billing-export",
        "kind": "service_account",
        "environment": "other",
        "created_via": "discovery",
        "credential_lifetime": "static",
        # both keys active: the newer rotation, the later use
        "last_rotated_at": at(2026, 9, 15, 11, 30),
        "last_used_at": at(2026, 11, 21, 2, 0),
    }
    assert billing.hints == {
        "name": "billing-export",
        "account": "123456789012",
        "iam_path": "/teams/payments/",
    }
    assert (billing.disabled, billing.interactive_login) == (False, False)

    ci = rows[arn + "ci-deployer"]
    assert ci.data["last_rotated_at"] == at(2025, 3, 4, 16, 20)
    assert ci.hints == {"name": "ci-deployer", "account": "123456789012"}

    # a console user without keys: no programmatic access left, but a password (NHI10)
    alice = rows[arn + "alice"]
    assert (alice.disabled, alice.interactive_login) == (True, True)
    assert not {"last_rotated_at", "last_used_at"} & set(alice.data)

    # an inactive key: disabled; its rotation does not count, its last use does
    legacy = rows[arn + "legacy-sync"]
    assert legacy.disabled is True
    assert "last_rotated_at" not in legacy.data
    assert legacy.data["last_used_at"] == at(2022, 5, 2, 3, 15)

    # password_last_used no_information and a never-used key (N/A)
    bot = rows[arn + "reporting-bot"]
    assert (bot.disabled, bot.interactive_login) == (False, True)
    assert "last_used_at" not in bot.data

    # only a signing certificate is active: not disabled, its rotation counts
    signer = rows[arn + "cert-signer"]
    assert signer.disabled is False
    assert signer.data["last_rotated_at"] == at(2024, 1, 1)


def test_aws_root_without_keys_is_skipped():
    rows = read(aws_credential_report.read, "aws-credential-report.csv")

    assert not [row for row in rows if row.data["external_id"].endswith(":root")]


def test_aws_broken_rows_name_line_and_column():
    rows = read(aws_credential_report.read, "aws-credential-report-broken.csv")

    assert [(row.line, row.errors) for row in rows] == [
        (2, [aws_credential_report.ROOT_HAS_KEYS]),
        (
            3,
            ["access_key_1_last_rotated: not an ISO 8601 timestamp with a time zone: 'yesterday'."],
        ),
        (4, ["Expected 22 fields, found 5."]),
        # line 5 is blank
        (
            6,
            [
                "access_key_1_last_rotated: not an ISO 8601 timestamp with a time zone: "
                "'2025-05-05T05:05:05'.",
                "password_enabled: expected true or false, got 'maybe'.",
            ],
        ),
        (7, []),
    ]
    assert rows[0].data["external_id"] == "arn:aws:iam::123456789012:root"
    assert rows[4].data["last_rotated_at"] == at(2025, 5, 5, 5, 5, 5)


def test_aws_wrong_header_is_one_error_and_stops():
    rows = read(aws_credential_report.read, "aws-credential-report-bad-header.csv")

    assert len(rows) == 1
    assert rows[0].line == 1
    assert rows[0].errors[0].startswith("Not an AWS IAM credential report: the header lacks user,")


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "The file is empty"), (b"\xff\xfeuser", "not UTF-8")],
)
def test_aws_unreadable_file_is_one_error(content, message):
    rows = read_bytes(aws_credential_report.read, content)

    assert [row.line for row in rows] == [1]
    assert message in rows[0].errors[0]


def test_aws_reads_a_bom_and_crlf_and_extra_columns():
    text = (SAMPLES / "aws-credential-report.csv").read_text()
    lines = text.splitlines()
    lines = [line + ",extra" for line in lines]
    content = ("\ufeff" + "\r\n".join(lines) + "\r\n").encode()

    rows = read_bytes(aws_credential_report.read, content)

    assert rows == read(aws_credential_report.read, "aws-credential-report.csv")


def test_aws_access_key_id_in_the_arn_is_kept_but_secrets_elsewhere_are_not():
    text = (SAMPLES / "aws-credential-report.csv").read_text()
    token = "ghp_" + "Ab1" * 12
    content = text.replace("ci-deployer,arn", f"{token},arn").encode()

    rows = read_bytes(aws_credential_report.read, content)

    row = next(row for row in rows if row.line == 3)
    assert token not in repr(row)
    assert row.errors and all("GitHub token" in error for error in row.errors)


# --- GCP service account keys ----------------------------------------------------------


def test_gcp_rows():
    rows = read(gcp_sa_keys.read, "gcp-sa-keys.json")
    prefix = "projects/acme-payments-prod/serviceAccounts/"
    email = "billing-export@acme-payments-prod.iam.gserviceaccount.com"

    assert rows[0].data == {
        "system": "gcp",
        "external_id": f"{prefix}{email}/keys/3f1c9a7be2d04c5e8a61b0f2d7e94c13a85b6d20",
        "name": f"{email} (key 3f1c9a7b)",
        "kind": "service_account",
        "environment": "other",
        "created_via": "discovery",
        "credential_lifetime": "static",  # 9999-12-31T23:59:59Z: no expiry
        "last_rotated_at": at(2025, 2, 3, 10, 20, 30),
    }
    assert rows[0].hints == {"project": "acme-payments-prod", "service_account": email}
    assert rows[0].disabled is False

    expiring, disabled = rows[1], rows[2]
    assert expiring.data["expires_at"] == at(2027, 1, 13)
    assert expiring.data["credential_lifetime"] == "long_lived"
    assert disabled.disabled is True
    assert "expires_at" not in disabled.data


def test_gcp_system_managed_keys_are_skipped():
    rows = read(gcp_sa_keys.read, "gcp-sa-keys.json")
    sample = json.loads((SAMPLES / "gcp-sa-keys.json").read_text())
    system_managed = {key["name"] for key in sample if key["keyType"] == "SYSTEM_MANAGED"}

    assert len(system_managed) == 2
    assert not system_managed & {row.data["external_id"] for row in rows}


def test_gcp_reads_the_rest_api_response_too():
    sample = json.loads((SAMPLES / "gcp-sa-keys.json").read_text())
    content = json.dumps({"keys": sample}).encode()

    assert read_bytes(gcp_sa_keys.read, content) == read(gcp_sa_keys.read, "gcp-sa-keys.json")


def test_gcp_broken_rows():
    rows = read(gcp_sa_keys.read, "gcp-sa-keys-broken.json")

    assert [(row.line, row.errors) for row in rows] == [
        (1, ["Not a JSON object."]),
        (
            2,
            [
                "name: expected projects/P/serviceAccounts/EMAIL/keys/KEY_ID, "
                "got 'serviceAccounts/ok/keys/aaaa'."
            ],
        ),
        (
            3,
            [
                "validAfterTime: not an ISO 8601 timestamp with a time zone: 'last tuesday'.",
                "validBeforeTime: not an ISO 8601 timestamp with a time zone: "
                "'2027-01-01T00:00:00'.",
            ],
        ),
        (
            4,
            [
                "keyType: expected USER_MANAGED or SYSTEM_MANAGED, got 'KEY_TYPE_UNSPECIFIED'.",
                "disabled: expected true or false, got 'yes'.",
            ],
        ),
        (5, []),
    ]


# --- GitHub fine-grained PAT grants ----------------------------------------------------


def test_github_rows():
    rows = by_external_id(read(github_pat_grants.read, "github-pat-grants.json"))

    docs = rows["github-pat-grant:25381"]
    assert docs.data == {
        "system": "github",
        "external_id": "github-pat-grant:25381",
        "name": "deploy-docs (octocat)",
        "kind": "api_token",
        "environment": "other",
        "created_via": "discovery",
        "created_by_ref": "octocat",
        "credential_lifetime": "long_lived",
        # -07:00 / -08:00 offsets, normalised to UTC
        "last_rotated_at": at(2026, 5, 16, 15, 47, 9),
        "last_used_at": at(2026, 11, 20, 22, 2, 11),
        "expires_at": at(2027, 5, 16, 15, 47, 9),
        "privilege_scope": (
            "repositories: subset; repository: contents:write, metadata:read, pull_requests:write"
        ),
    }
    assert docs.hints == {"owner": "octocat", "repository_selection": "subset", "token_id": "98716"}
    assert (docs.disabled, docs.interactive_login) == (False, None)  # GitHub does not say: None

    never_expires = rows["github-pat-grant:25390"]
    assert never_expires.data["credential_lifetime"] == "static"
    assert not {"expires_at", "last_used_at"} & set(never_expires.data)
    assert never_expires.data["privilege_scope"] == (
        "repositories: all; repository: issues:write, metadata:read; organization: members:read"
    )

    seven_days = rows["github-pat-grant:25402"]
    assert seven_days.data["credential_lifetime"] == "short_lived"

    expired = rows["github-pat-grant:25407"]
    assert expired.disabled is True
    assert expired.data["expires_at"] == at(2026, 10, 1, 7)  # kept though past
    assert expired.data["privilege_scope"] == (
        "repositories: none; organization: administration:read"
    )


def test_github_reads_gh_paginate_output():
    sample = json.loads((SAMPLES / "github-pat-grants.json").read_text())
    expected = read(github_pat_grants.read, "github-pat-grants.json")
    pages = [sample[:2], sample[2:]]
    concatenated = "\n".join(json.dumps(page) for page in pages).encode()  # gh api --paginate
    slurped = json.dumps(pages).encode()  # gh api --paginate --slurp

    assert read_bytes(github_pat_grants.read, concatenated) == expected
    assert read_bytes(github_pat_grants.read, slurped) == expected
    assert read_bytes(github_pat_grants.read, b"[]") == []


def test_github_without_token_name():
    sample = json.loads((SAMPLES / "github-pat-grants.json").read_text())[:1]
    del sample[0]["token_name"], sample[0]["token_id"]

    (row,) = read_bytes(github_pat_grants.read, json.dumps(sample).encode())

    assert row.data["name"] == "fine-grained PAT 25381 (octocat)"
    assert "token_id" not in row.hints


def test_github_broken_rows():
    rows = read(github_pat_grants.read, "github-pat-grants-broken.json")

    assert [(row.line, row.errors) for row in rows] == [
        (1, ["Not a JSON object."]),
        (
            2,
            [
                "id: expected an integer, got '25500'.",
                "token_expires_at: not an ISO 8601 timestamp with a time zone: 'next year'.",
            ],
        ),
        (3, ["owner.login: missing.", "permissions: expected an object, got ['metadata:read']."]),
        (4, ["token_expired: expected true or false, got 'no'."]),
    ]
    assert rows[2].data["name"] == "no owner"


def test_github_requests_listing_is_refused_as_a_whole():
    """GET /orgs/{org}/personal-access-token-requests looks like the grants listing,
    but its items are pending requests (`reason`, `created_at`): not access."""
    (row,) = read(github_pat_grants.read, "github-pat-requests.json")

    assert row.line == 0 and row.data == {}
    assert row.errors == [
        github_pat_grants.REQUESTS_NOT_GRANTS.format(
            line=1, fields="`reason` and `created_at` but no `access_granted_at`"
        )
    ]
    assert row.errors[0].startswith(
        "This is a list of pending fine-grained PAT requests, not grants: item 1 has"
    )
    # One request among grants (a merged file) refuses it too, naming the item.
    grants = json.loads((SAMPLES / "github-pat-grants.json").read_text())
    request = json.loads((SAMPLES / "github-pat-requests.json").read_text())[1]
    del request["reason"]
    (row,) = read_bytes(github_pat_grants.read, json.dumps([*grants, request]).encode())
    assert row.errors == [
        github_pat_grants.REQUESTS_NOT_GRANTS.format(
            line=5, fields="`created_at` but no `access_granted_at`"
        )
    ]


def test_github_token_named_after_a_token_is_not_kept():
    sample = json.loads((SAMPLES / "github-pat-grants.json").read_text())[:1]
    token = "github_pat_" + "A1b2C3d4E5" * 3
    sample[0]["token_name"] = token

    (row,) = read_bytes(github_pat_grants.read, json.dumps(sample).encode())

    assert token not in repr(row)
    assert "name" not in row.data
    assert row.errors == [
        "name: This looks like a secret (GitHub token). The registry stores metadata about "
        "credentials, never the credentials themselves: remove it."
    ]


# --- Kubernetes service accounts -------------------------------------------------------


def test_kubernetes_rows():
    rows = by_external_id(read(k8s_serviceaccounts.read, "k8s-serviceaccounts.json"))

    billing = rows["payments-prod/billing-export"]
    assert billing.data == {
        "system": "kubernetes",
        "external_id": "payments-prod/billing-export",
        "name": "payments-prod/billing-export",
        "kind": "workload_identity",
        "environment": "prod",
        "created_via": "discovery",
        "credential_lifetime": "ephemeral",
        "privilege_scope": "AWS IAM role arn:aws:iam::123456789012:role/billing-export",
        "consumers": "billing-export",
        "created_by_ref": "Helm release billing",
    }
    assert billing.hints == {
        "namespace": "payments-prod",
        "app": "billing-export",
        "managed_by": "Helm",
        "helm_release": "billing",
    }

    frontend = rows["staging-web/frontend"]
    assert (frontend.data["kind"], frontend.data["environment"]) == (
        "workload_identity",
        "staging",
    )
    assert frontend.data["privilege_scope"] == (
        "GCP service account frontend@acme-web-staging.iam.gserviceaccount.com"
    )

    legacy = rows["dev-tools/legacy-ci"]  # lists a legacy token Secret
    assert (legacy.data["credential_lifetime"], legacy.data["environment"]) == ("static", "dev")
    assert legacy.data["kind"] == "service_account"

    # "product" is not "prod"; kube-system is no environment
    assert rows["product-catalog/catalog-api"].data["environment"] == "other"
    assert rows["kube-system/coredns"].data == {
        "system": "kubernetes",
        "external_id": "kube-system/coredns",
        "name": "kube-system/coredns",
        "kind": "service_account",
        "environment": "other",
        "created_via": "discovery",
        "credential_lifetime": "ephemeral",
    }
    assert rows["kube-system/coredns"].hints == {"namespace": "kube-system"}


def test_kubernetes_default_service_accounts_are_skipped():
    rows = read(k8s_serviceaccounts.read, "k8s-serviceaccounts.json")

    assert not [row for row in rows if row.data["external_id"].endswith("/default")]


def test_kubernetes_service_account_list_and_single_object():
    document = json.loads((SAMPLES / "k8s-serviceaccounts.json").read_text())
    expected = read(k8s_serviceaccounts.read, "k8s-serviceaccounts.json")
    for item in document["items"]:  # the API's own list carries no per-item kind
        del item["kind"], item["apiVersion"]
    api_list = {**document, "kind": "ServiceAccountList"}
    single = json.loads((SAMPLES / "k8s-serviceaccounts.json").read_text())["items"][1]

    assert read_bytes(k8s_serviceaccounts.read, json.dumps(api_list).encode()) == expected
    (row,) = read_bytes(k8s_serviceaccounts.read, json.dumps(single).encode())
    assert row.data == expected[0].data


def test_kubernetes_broken_rows():
    rows = read(k8s_serviceaccounts.read, "k8s-serviceaccounts-broken.json")

    # item 1, a Secret, is skipped
    assert [(row.line, row.errors) for row in rows] == [
        (2, ["metadata.namespace: missing."]),
        (3, ["metadata.labels: expected an object of strings."]),
        (4, ["Not a JSON object."]),
        (5, []),
    ]


def test_kubernetes_other_documents_are_refused():
    content = json.dumps({"apiVersion": "apps/v1", "kind": "Deployment", "items": []}).encode()

    (row,) = read_bytes(k8s_serviceaccounts.read, content)

    assert (row.line, row.errors) == (
        0,
        ["Expected a Kubernetes List of ServiceAccounts (kubectl get serviceaccounts -A -o json)."],
    )


# --- Entra application credentials -----------------------------------------------------


def test_entra_rows():
    rows = by_external_id(read(entra_app_credentials.read, "entra-app-credentials.json"))
    app_id = "3f2b8c1d-7e4a-4b6c-9d0e-1a2b3c4d5e6f"

    secret = rows[f"{app_id}/6a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"]
    assert secret.data == {
        "system": "entra",
        "external_id": f"{app_id}/6a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
        "name": "Billing Export: prod secret 2026",
        "kind": "oauth_client",
        "environment": "other",
        "created_via": "discovery",
        "credential_lifetime": "long_lived",
        "last_rotated_at": at(2026, 3, 1, 10, 15, 30, 123000),
        "expires_at": at(2027, 3, 1, 10, 15, 30, 123000),
    }
    assert secret.hints == {"app": "Billing Export", "app_id": app_id}

    unnamed = rows[f"{app_id}/7b2c3d4e-5f6a-4b7c-9d8e-0f1a2b3c4d5e"]
    assert unnamed.data["name"] == "Billing Export client secret"
    assert unnamed.data["expires_at"] == at(2026, 6, 1)  # past, kept as the source says

    certificate = rows[f"{app_id}/8c3d4e5f-6a7b-4c8d-0e9f-1a2b3c4d5e6f"]
    assert (certificate.data["kind"], certificate.data["name"]) == (
        "certificate",
        "Billing Export: CN=billing-export",
    )

    # seven fractional digits, as Graph writes them
    partner = rows["c4d5e6f7-a8b9-4c0d-1e2f-3a4b5c6d7e8f/9d4e5f6a-7b8c-4d9e-1f0a-2b3c4d5e6f7a"]
    assert partner.data["expires_at"] == at(2028, 8, 3, 9, 30, 12, 442346)
    assert partner.line == 3


def test_entra_hints_and_secret_text_never_reach_a_row():
    document = json.loads((SAMPLES / "entra-app-credentials.json").read_text())
    document["value"][0]["passwordCredentials"][0]["secretText"] = "ghp_" + "Zq~" * 12
    rows = read_bytes(entra_app_credentials.read, json.dumps(document).encode())
    hints = [
        credential["hint"]
        for application in document["value"]
        for credential in application["passwordCredentials"]
    ]

    assert hints == ["Zq~", "8Vd", "p7Q"]
    for hint in hints:
        assert hint not in repr(rows)
    assert all(row.errors == [] for row in rows)


def test_entra_reads_a_bare_list():
    document = json.loads((SAMPLES / "entra-app-credentials.json").read_text())

    rows = read_bytes(entra_app_credentials.read, json.dumps(document["value"]).encode())

    assert rows == read(entra_app_credentials.read, "entra-app-credentials.json")


def test_entra_broken_rows():
    rows = read(entra_app_credentials.read, "entra-app-credentials-broken.json")

    assert [(row.line, row.errors) for row in rows] == [
        (1, ["appId: missing."]),
        (
            2,
            [
                "passwordCredentials[0].endDateTime: not an ISO 8601 timestamp with a time "
                "zone: 'soon'."
            ],
        ),
        (2, ["passwordCredentials[1]: not a JSON object."]),
        (2, ["keyCredentials: expected a list."]),
    ]


def test_entra_truncated_download_is_one_file_error():
    rows = read(entra_app_credentials.read, "entra-app-credentials-truncated.json")

    assert [row.line for row in rows] == [0]
    assert rows[0].errors[0].startswith("Not valid JSON:")


def test_entra_display_name_that_looks_like_a_secret_is_dropped():
    document = json.loads((SAMPLES / "entra-app-credentials.json").read_text())
    leaked = "ghp_" + "Ab1" * 12
    document["value"][2]["displayName"] = leaked

    rows = read_bytes(entra_app_credentials.read, json.dumps(document).encode())

    (row,) = [row for row in rows if row.line == 3]
    assert leaked not in repr(row)
    assert "name" not in row.data and "app" not in row.hints
    assert len(row.errors) == 2


@pytest.mark.parametrize(
    ("reader", "sample"),
    [
        (aws_credential_report.read, "aws-credential-report-broken.csv"),
        (gcp_sa_keys.read, "gcp-sa-keys-broken.json"),
        (github_pat_grants.read, "github-pat-grants-broken.json"),
        (k8s_serviceaccounts.read, "k8s-serviceaccounts-broken.json"),
        (entra_app_credentials.read, "entra-app-credentials-broken.json"),
    ],
)
def test_broken_samples_still_use_only_access_path_fields(reader, sample):
    rows = read(reader, sample)

    assert any(row.errors for row in rows)
    for row in rows:
        assert set(row.data) <= EDITABLE_FIELDS | {"tags"}
        for field_name, allowed in CHOICES.items():
            if field_name in row.data:
                assert row.data[field_name] in allowed
