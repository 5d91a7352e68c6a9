"""The formats `import_paths` reads, by the name the command, the API and the upload
form use."""

from __future__ import annotations

from registry.importers import (
    aws_access_keys,
    aws_credential_report,
    entra_app_credentials,
    gcp_sa_keys,
    github_pat_grants,
    k8s_serviceaccounts,
    registry_format,
)
from registry.importers.base import Reader

READERS: dict[str, Reader] = {
    "csv": registry_format.read_csv,
    "json": registry_format.read_json,
    "aws-credential-report": aws_credential_report.read,
    "gcp-sa-keys": gcp_sa_keys.read,
    "github-pat-grants": github_pat_grants.read,
    "k8s-serviceaccounts": k8s_serviceaccounts.read,
    "entra-app-credentials": entra_app_credentials.read,
    "aws-access-keys": aws_access_keys.read,
}
FORMATS = tuple(READERS)
