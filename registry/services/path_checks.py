"""What a registration or an edit of a path must satisfy beyond its fields' own rules:
the provenance of pipeline-made and AI-assisted access (rules/validation.py), who owns
it, and the policy's verdict at request time (rules/enforcement.py). Called by
services/paths.py inside its transaction."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterator, Mapping
from typing import Any

from registry.models import AccessPath
from registry.rules import errors
from registry.rules.errors import PolicyRefused
from registry.rules.policies import Policy
from registry.rules.posture import PROVENANCE_REQUIRED
from registry.rules.validation import PROVENANCE_INPUTS, change_url_error, provenance_errors
from registry.selectors.violations import path_verdict
from registry.services._common import is_importing


def provenance_problems(path: AccessPath, fields: set[str]) -> Iterator[tuple[str, str]]:
    """What a pipeline-made or agent-made path must record (rules/validation.provenance_missing),
    asked when it is registered or one of its inputs changes; an import records it as
    found (posture MISSING_PROVENANCE flags it). A change link is http(s); a maximum
    lease length belongs to an issuer."""
    if fields & set(PROVENANCE_INPUTS) and not is_importing():
        for field, messages in provenance_errors(path).items():
            yield from ((field, message) for message in messages)
    if (
        "change_url" in fields
        and path.change_url
        and (message := change_url_error(path.change_url))
    ):
        yield "change_url", message
    issuer_fields = "max_lease_seconds" in fields or "issuer_kind" in fields
    if issuer_fields and path.max_lease_seconds is not None and not path.issuer_kind:
        yield "max_lease_seconds", errors.MAX_LEASE_WITHOUT_ISSUER


def owner_from_merger(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """Pipeline-made and AI-assisted access belongs to the human team that merged the
    change: without an owning team named, the merging team owns it (not in an import,
    which records the row as it is)."""
    if data.get("created_via") not in PROVENANCE_REQUIRED or is_importing():
        return data
    if data.get("owner_team") is None and data.get("merged_by_team") is not None:
        return {**data, "owner_team": data["merged_by_team"]}
    return data


def enforce_policy(
    path: AccessPath, *, now: dt.datetime, policy: Policy, before: Collection[str] = ()
) -> None:
    """Policy at request time, on a registration or an edit written but not yet audited:
    a rule whose enforcement level is `refuse` newly broken refuses the whole request
    (the transaction rolls back: nothing saved, nothing audited); otherwise the verdict
    rides on the path (`path.verdict`) for the answer."""
    verdict = path_verdict(path, now=now, policy=policy, before=before)
    if verdict.refused:
        raise PolicyRefused(verdict)
    path.verdict = verdict
