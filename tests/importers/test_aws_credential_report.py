"""The AWS IAM credential report reader (registry.importers.aws_credential_report). Its
sample reads to exactly the rows expected; broken rows name their line; nothing
secret-shaped is kept."""

from __future__ import annotations

import pytest

from registry.importers import aws_credential_report
from tests.importers.helpers import SAMPLES, at, by_external_id, read, read_bytes


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
        "mfa_active": False,
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
    assert (bot.disabled, bot.interactive_login, bot.data["mfa_active"]) == (False, True, False)
    assert alice.data["mfa_active"] is True
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
