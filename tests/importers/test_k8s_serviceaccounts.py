"""The Kubernetes service accounts reader (registry.importers.k8s_serviceaccounts). Its
sample reads to exactly the rows expected; broken rows name their line; nothing
secret-shaped is kept."""

from __future__ import annotations

import json

from registry.importers import k8s_serviceaccounts
from tests.importers.helpers import SAMPLES, by_external_id, read, read_bytes


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
