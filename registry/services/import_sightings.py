"""What an import records about the paths it saw, beside changing them (imports.py):
the run's stamp on every path a row named, the owner a rule suggests for an unowned
one, and, after a full sync, the live paths of the same source it did not list. Set-based
bookkeeping (no version bump, no audit event of its own: the run's event and counts
record the import); what changes a dashboard fact is reclassified (services.tallies)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from registry.importers.base import ImportRow
from registry.models import AccessPath, ImportRun, Team
from registry.rules.owner_suggestions import OwnerRule, facts_for, suggest
from registry.rules.status import live_q
from registry.services.tallies import refresh_facts

# Paths flagged not seen per statement (and per reclassification).
FLAG_BATCH = 1000


def team_named(slug: Any, teams: dict[str, Team | None]) -> Team | None:
    if slug not in teams:
        teams[slug] = Team.objects.filter(slug=slug).first()
    return teams[slug]


def suggest_owners(rules: list[OwnerRule], chunk: list[ImportRow], seen: set, teams: dict) -> set:
    """Point the chunk's unowned paths at the team the owner rules suggest. Bookkeeping
    like the stamp (no version bump); the run's audit event records the import. Returns
    the ids of the paths whose suggestion changed."""
    hints = {(r.data.get("system"), r.data.get("external_id")): r.hints for r in chunk}
    unowned = AccessPath.objects.filter(
        pk__in=seen, state__in=(AccessPath.State.UNOWNED, AccessPath.State.CLAIM_PENDING)
    ).values_list(
        "pk", "system", "external_id", "name", "created_by_ref", "steward_team__slug",
        "suggested_owner__slug", "suggestion_reason",
    )  # fmt: skip
    changes: dict[tuple, list] = {}
    for pk, system, external_id, name, created_by, steward, current, reason in unowned:
        facts = facts_for(
            name=name, created_by=created_by, steward=steward or "",
            hints=hints.get((system, external_id), {}),
        )  # fmt: skip
        found = suggest(rules, facts)
        if found is not None and team_named(found[0], teams) is None:
            found = None  # a rule naming a team that does not exist suggests nothing
        if (found or (None, "")) != (current, reason):
            changes.setdefault(found or (None, ""), []).append(pk)
    for (slug, reason), pks in changes.items():
        AccessPath.objects.filter(pk__in=pks).update(
            suggested_owner=team_named(slug, teams) if slug else None, suggestion_reason=reason
        )
    return {pk for pks in changes.values() for pk in pks}


def stamp(path_ids: set, run: ImportRun, now: dt.datetime) -> set:
    """Bookkeeping, not a change of the record: no version bump, no audit event (the
    run's own event and its counts record the import). Returns the paths seen again
    after a full sync had missed them (their `not_seen_since` clears: a dashboard fact)."""
    if not path_ids:
        return set()
    back = set(
        AccessPath.objects.filter(pk__in=path_ids, not_seen_since__isnull=False).values_list(
            "pk", flat=True
        )
    )
    AccessPath.objects.filter(pk__in=path_ids).update(
        import_source=run.source_format, last_import_run=run, last_seen_at=now
    )
    # Only where it was set: writing a column the dashboard's facts read, even with the
    # value it has, makes those facts run out (migration 0016's trigger).
    if back:
        AccessPath.objects.filter(pk__in=back).update(not_seen_since=None)
    return back


def flag_not_seen(run: ImportRun, now: dt.datetime) -> int:
    systems = set(AccessPath.objects.filter(last_import_run=run).values_list("system", flat=True))
    if run.system:
        systems.add(run.system)
    missing = list(
        AccessPath.objects.filter(live_q(now), import_source=run.source_format)
        .filter(system__in=systems, not_seen_since__isnull=True)
        .exclude(last_import_run=run)
        .values_list("pk", flat=True)
    )
    for start in range(0, len(missing), FLAG_BATCH):
        ids = missing[start : start + FLAG_BATCH]
        AccessPath.objects.filter(pk__in=ids, not_seen_since__isnull=True).update(
            not_seen_since=now
        )
        refresh_facts(ids, now=now)
    return len(missing)
