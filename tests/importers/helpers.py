"""Helpers shared by the source-format reader tests (tests/importers/test_*.py): the
samples in tests/samples, which follow the real formats, and reading them."""

from __future__ import annotations

import datetime as dt
import io
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

SAMPLES = Path(__file__).parents[1] / "samples"
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
