"""The GCP service account keys reader (registry.importers.gcp_sa_keys). Its sample
reads to exactly the rows expected; broken rows name their line; nothing
secret-shaped is kept."""

from __future__ import annotations

import json

from registry.importers import gcp_sa_keys
from tests.importers.helpers import SAMPLES, at, read, read_bytes


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
