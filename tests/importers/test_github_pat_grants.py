"""The GitHub fine-grained PAT grants reader (registry.importers.github_pat_grants).
Its sample reads to exactly the rows expected; broken rows name their line; nothing
secret-shaped is kept."""

from __future__ import annotations

import json

from registry.importers import github_pat_grants
from tests.importers.helpers import SAMPLES, at, by_external_id, read, read_bytes


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
