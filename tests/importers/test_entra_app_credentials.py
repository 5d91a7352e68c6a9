"""The Entra application credentials reader (registry.importers.entra_app_credentials).
Its sample reads to exactly the rows expected; broken rows name their line; nothing
secret-shaped is kept."""

from __future__ import annotations

import json

from registry.importers import entra_app_credentials
from tests.importers.helpers import SAMPLES, at, by_external_id, read, read_bytes


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
