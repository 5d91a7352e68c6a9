"""Every source-format reader (registry.importers.*): each sample reads to valid rows of
access-path fields only; an unreadable file is one file error, a broken one row errors
with their line numbers, never an exception."""

from __future__ import annotations

import datetime as dt

import pytest

from registry.importers import (
    aws_credential_report,
    entra_app_credentials,
    gcp_sa_keys,
    github_pat_grants,
    k8s_serviceaccounts,
)
from registry.rules.path_fields import EDITABLE_FIELDS
from tests.importers.helpers import CHOICES, DATETIME_FIELDS, FORMATS, read, read_bytes


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
