"""Kubernetes service accounts: `kubectl get serviceaccounts -A -o json` (a `List`), the
API's `ServiceAccountList`, or a single `ServiceAccount` object.

One row per service account, except each namespace's `default` service account, which
Kubernetes creates by itself in every namespace (and pods use unless told otherwise):
importing them would bury the real ones. Items of any other kind are skipped.

- `system` "kubernetes"; pass the cluster as `system` (e.g. "k8s-prod-eu") since names
  repeat across clusters. `external_id` "<namespace>/<name>"; `name` the same;
  `environment` from the namespace's words (split on - _ .): prod / production / prd ->
  prod, staging / stage / stg -> staging, dev / development -> dev, else other (a whole
  word, so "product-api" is not prod); `created_via` discovery.
- `kind` service_account; workload_identity when the account is federated to a cloud
  identity by an annotation (eks.amazonaws.com/role-arn, iam.gke.io/gcp-service-account,
  azure.workload.identity/client-id), which also becomes `privilege_scope` text
  ("AWS IAM role arn:..."). RBAC bindings are not in this format: no other scope.
- `credential_lifetime`: ephemeral (pods get bound, projected tokens that expire),
  unless the account lists `secrets`: a legacy token Secret never expires, so static.
- `metadata.creationTimestamp` is when the account was created, not a credential
  rotation: not mapped. No last-use time or expiry is in this format.
- `consumers`: the `app.kubernetes.io/name` label (the workload the account is for).
  `created_by_ref`: `app.kubernetes.io/managed-by` (e.g. "Helm"), with the
  meta.helm.sh/release-name annotation when present ("Helm release monitoring").
- hints: `namespace`, and `app` / `managed_by` / `helm_release` when labelled.
- A file that is not JSON, or none of the shapes above, gives one error row with line 0
  (the file as a whole). Lines are 1-based positions in `items`. Secret-shaped values
  never reach `data` or `hints`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, BinaryIO

from registry.importers.base import ImportRow, load_json, without_secrets

DEFAULT_SYSTEM = "kubernetes"
SKIPPED_NAMES = frozenset({"default"})
LIST_KINDS = frozenset({"List", "ServiceAccountList"})
ENVIRONMENT_WORDS = {
    "prod": "prod", "production": "prod", "prd": "prod",
    "staging": "staging", "stage": "staging", "stg": "staging",
    "dev": "dev", "development": "dev",
}  # fmt: skip
FEDERATION_ANNOTATIONS = (
    ("eks.amazonaws.com/role-arn", "AWS IAM role {}"),
    ("iam.gke.io/gcp-service-account", "GCP service account {}"),
    ("azure.workload.identity/client-id", "Azure identity (client id) {}"),
)
_WORD_SPLIT = re.compile(r"[-_.]+")


def read(source: BinaryIO, *, system: str | None = None) -> Iterator[ImportRow]:
    system_name = system or DEFAULT_SYSTEM
    items, error = _load(source)
    if error:
        yield ImportRow(line=0, errors=[error])
        return
    for line, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            yield ImportRow(line=line, errors=["Not a JSON object."])
            continue
        # Items of a ServiceAccountList straight from the API carry no kind.
        if item.get("kind", "ServiceAccount") != "ServiceAccount":
            continue
        metadata = item.get("metadata")
        if isinstance(metadata, dict) and metadata.get("name") in SKIPPED_NAMES:
            continue
        yield without_secrets(_row(line, item, system_name))


def _load(source: BinaryIO) -> tuple[list[Any], str | None]:
    document, error = load_json(source)
    if error:
        return [], error
    if isinstance(document, dict):
        if document.get("kind") in LIST_KINDS and isinstance(document.get("items"), list):
            return document["items"], None
        if document.get("kind") == "ServiceAccount":
            return [document], None
    return [], (
        "Expected a Kubernetes List of ServiceAccounts (kubectl get serviceaccounts -A -o json)."
    )


def _row(line: int, item: dict[str, Any], system_name: str) -> ImportRow:
    errors: list[str] = []
    data: dict[str, Any] = {"system": system_name}
    metadata = item.get("metadata")
    if not isinstance(metadata, dict):
        return ImportRow(line=line, data=data, errors=["metadata: missing."])
    name = metadata.get("name")
    namespace = metadata.get("namespace")
    if not isinstance(name, str) or not name:
        errors.append("metadata.name: missing.")
    if not isinstance(namespace, str) or not namespace:
        errors.append("metadata.namespace: missing.")
    labels = _string_map(metadata.get("labels"), "metadata.labels", errors)
    annotations = _string_map(metadata.get("annotations"), "metadata.annotations", errors)
    if errors or not isinstance(name, str) or not isinstance(namespace, str):
        return ImportRow(line=line, data=data, errors=errors)

    reference = f"{namespace}/{name}"
    scopes = [
        template.format(annotations[key])
        for key, template in FEDERATION_ANNOTATIONS
        if annotations.get(key, "").strip()
    ]
    secrets = item.get("secrets")
    data.update(
        external_id=reference,
        name=reference,
        kind="workload_identity" if scopes else "service_account",
        environment=_environment(namespace),
        created_via="discovery",
        credential_lifetime="static" if secrets else "ephemeral",
    )
    if scopes:
        data["privilege_scope"] = "; ".join(scopes)
    hints = {"namespace": namespace}
    app = labels.get("app.kubernetes.io/name", "").strip()
    if app:
        data["consumers"] = app
        hints["app"] = app
    managed_by = labels.get("app.kubernetes.io/managed-by", "").strip()
    release = annotations.get("meta.helm.sh/release-name", "").strip()
    if managed_by:
        hints["managed_by"] = managed_by
        data["created_by_ref"] = f"{managed_by} release {release}" if release else managed_by
    if release:
        hints["helm_release"] = release
    identifiers = [("principal", f"system:serviceaccount:{namespace}:{name}")]
    return ImportRow(line=line, data=data, hints=hints, identifiers=identifiers)


def _environment(namespace: str) -> str:
    for word in _WORD_SPLIT.split(namespace.lower()):
        if word in ENVIRONMENT_WORDS:
            return ENVIRONMENT_WORDS[word]
    return "other"


def _string_map(value: Any, where: str, errors: list[str]) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        errors.append(f"{where}: expected an object of strings.")
        return {}
    return value
