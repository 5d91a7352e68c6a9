"""Importing access paths from a source: upsert by (system, external_id), through the
same services a person uses, so every imported change is validated and audited.

One import is one transaction: by default any bad row refuses the whole import (nothing
changes; every bad row is reported with its line); `partial` applies the good rows. A
dry run does all the work and rolls it back, so what it reports is exactly what a real
run would do. Each row runs in a savepoint, so one refused row never spoils the others.

A credential the source reports as disabled, or as already expired, is revoked if the
registry holds it live, and is not registered if it does not. An expiry a source's
export states is recorded however far ahead (posture flags it NHI7); the policy's cap
applies to the registry's own csv/json, which carry what people decided. A full sync
stamps every path it saw with the run and flags the live paths of the same source and
system that it did not see (`not_seen_since`): candidates for retirement, counted on the
dashboard. It also flags the paths retired here that it still lists
(`source_still_listed_at`, security's queue) and names them in the run's report.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction

from registry.audit import AuditEntry, audit_record, audit_record_many
from registry.importers.base import ImportRow
from registry.models import AccessPath, ImportRun, StoredFile, Team
from registry.rules import permissions
from registry.rules.actors import Actor
from registry.rules.errors import Invalid, ServiceError
from registry.rules.imports import upload_expires_at
from registry.rules.owner_suggestions import (
    OwnerRule,
    OwnerRulesError,
    load_rules,
)
from registry.rules.path_fields import AUTHORITY_TEAM_FIELDS
from registry.rules.policies import current_policy
from registry.rules.status import is_live
from registry.rules.validation import unsafe_input_errors
from registry.runtime.writer_lock import hold_writer_lock
from registry.services._common import (
    importing,
    lock_path,
    refuse_if,
    resolve_now,
    save_path,
    source_stated_expiry,
)
from registry.services.identifiers import identifiers_import
from registry.services.import_heartbeat import ImportHeartbeat
from registry.services.import_rows import (
    gone_at_source,
    plain_new,
    plainly_safe,
    registered_paths,
    row_key,
    states_nothing_new,
)
from registry.services.import_sightings import (
    flag_not_seen,
    stamp,
    suggest_owners,
    team_named,
)
from registry.services.import_staging import (
    import_digest,
    insert_new_paths,
    recognised_in_database,
    store_hashes,
    stored_hash,
)
from registry.services.path_retirement import path_revoke
from registry.services.paths import _new_path, path_register_or_update
from registry.services.source import paths_flag_still_listed
from registry.services.tallies import refresh_facts

log = logging.getLogger(__name__)

# An upload is read from the request and stored in pieces of this size.
UPLOAD_CHUNK = 1 << 20
MAX_REPORTED_ERRORS = 1000
# Rows looked up and registered together: one staging load, one insert, one audit
# append and one stamp per chunk. Larger chunks save round trips; this size keeps a
# chunk's `id IN (...)` lists and the audit append's memory small.
CHUNK = 1000
# What can happen to a row; "not_seen" counts paths, not rows.
OUTCOMES = (
    "created", "updated", "unchanged", "revoked", "skipped_gone", "listed_but_retired",
    "failed",
)  # fmt: skip
Progress = Callable[[int, int], None]
# The registry's own formats: what people decided (an expiry is capped by the policy).
# Every other format is a source's export, whose expiry is a fact.
PEOPLE_FORMATS = frozenset({"csv", "json"})


class _RollBack(Exception):
    """Unwinds the import's transaction after a dry run or a refused import."""


class _Superseded(Exception):
    """Unwinds the import's transaction when its run is no longer this worker's."""


@dataclass
class ImportReport:
    run: ImportRun
    counts: Counter = field(default_factory=Counter)
    errors: list[dict] = field(default_factory=list)
    # Retired paths the source still lists (services/source.py flags them on a full sync).
    still_listed: list[dict] = field(default_factory=list)

    @property
    def applied(self) -> bool:
        return self.run.status == ImportRun.Status.APPLIED


def _resolve_teams(row: ImportRow, teams: dict) -> None:
    slugs = row.data.get("revoker_teams")
    if isinstance(slugs, list):
        found = [team_named(slug, teams) for slug in slugs]
        for slug in [slug for slug, team in zip(slugs, found, strict=True) if team is None]:
            row.errors.append(f"revoker_teams: no team with the slug {slug!r}")
        row.data["revoker_teams"] = [team for team in found if team is not None]
    for key in ("owner_team", "steward_team", *AUTHORITY_TEAM_FIELDS):
        slug = row.data.get(key)
        if isinstance(slug, str):
            team = team_named(slug, teams)
            if team is None:
                row.errors.append(f"{key}: no team with the slug {slug!r}")
            else:
                row.data[key] = team


def _apply_history(
    actor: Actor, path: AccessPath, attested_at: dt.datetime, now: dt.datetime
) -> bool:
    """Carry a review done before the registry existed (a spreadsheet's "last attested")
    into the review clock, if it is newer than what the registry knows."""
    locked = lock_path(path.pk)
    if locked.state != AccessPath.State.ACTIVE or attested_at > now:
        return False
    if locked.last_attested_at is not None and locked.last_attested_at >= attested_at:
        return False
    next_review = attested_at + dt.timedelta(days=locked.review_interval_days)
    change_log = save_path(
        locked, {"last_attested_at": attested_at, "next_review_at": next_review}, now=now
    )
    audit_record(
        actor=actor,
        action="access_path.history_imported",
        obj=locked,
        now=now,
        changes=change_log,
        reason="A review recorded before this registry, carried over by an import.",
    )
    return True


def _one_row(
    actor: Actor, row: ImportRow, run: ImportRun, now: dt.datetime
) -> tuple[str, AccessPath | None]:
    """Apply one row; returns what happened and the path it concerns."""
    data = dict(row.data)
    attested_at = data.pop("last_attested_at", None)
    if row.interactive_login is not None:
        data["interactive_login"] = row.interactive_login
    system, external_id = data.get("system"), data.get("external_id")
    existing = AccessPath.objects.filter(system=system, external_id=external_id).first()
    expires = data.get("expires_at")
    if gone_at_source(row, now):
        why = "disabled" if row.disabled else f"expired on {expires:%Y-%m-%d}"
        if existing is None:
            return "skipped_gone", None
        if not is_live(existing, now):
            return "unchanged", existing
        reason = f"The {run.source_format} import reports it {why}."
        return "revoked", path_revoke(actor=actor, path=existing, reason=reason, now=now)
    before = existing.version if existing is not None else None
    # Imports record credentials that already exist: the policy informs, it never refuses.
    path, created = path_register_or_update(actor=actor, data=data, now=now, enforce=False)
    outcome = "created" if created else ("unchanged" if path.version == before else "updated")
    if attested_at is not None and _apply_history(actor, path, attested_at, now):
        outcome = "created" if created else "updated"
    return outcome, path


def paths_import(
    *,
    actor: Actor,
    rows: Iterable[ImportRow],
    source_format: str,
    system: str = "",
    steward: Team | None = None,
    dry_run: bool = False,
    partial: bool = False,
    full_sync: bool = False,
    file_name: str = "",
    run: ImportRun | None = None,
    progress: Progress | None = None,
    heartbeat: ImportHeartbeat | None = None,
    now: dt.datetime | None = None,
) -> ImportReport:
    """Import `rows` as one run. `run` is a queued run its worker has claimed (with the
    `heartbeat` it started when it claimed it); without one, the run is made here and
    beats for as long as the import lasts (`manage.py import_paths`)."""
    now = resolve_now(now)
    refuse_if(permissions.refuse_import(actor))
    rows = list(rows)
    for row in rows:  # what no field holds (NUL, surrogates, oversize) fails its row
        if plainly_safe(row):
            continue
        found = unsafe_input_errors({**row.data, "identifiers": row.identifiers})
        row.errors += [f"{name}: {m}" for name, messages in found.items() for m in messages]
    if run is None:
        run = ImportRun.objects.create(
            source_format=source_format, system=system, file_name=file_name[:255],
            actor_label=actor.label, started_by=actor.user, dry_run=dry_run,
            partial=partial, full_sync=full_sync, created_at=now,
            status=ImportRun.Status.RUNNING, heartbeat_at=now, attempts=1,
        )  # fmt: skip
    ImportRun.objects.filter(pk=run.pk, attempts=run.attempts).update(total=len(rows))
    beating = heartbeat or ImportHeartbeat(
        run_id=run.pk, attempt=run.attempts, every=settings.NHI_IMPORT_HEARTBEAT_SECONDS
    )

    def report_progress(done: int, total: int) -> None:
        beating.record(done, total)
        if progress is not None:
            progress(done, total)

    with nullcontext() if heartbeat is not None else beating:
        options = _Options(source_format, steward, dry_run, partial, full_sync, file_name)
        return _run_import(actor, rows, run, options, report_progress, now)


@dataclass(frozen=True)
class _Options:
    source_format: str
    steward: Team | None
    dry_run: bool
    partial: bool
    full_sync: bool
    file_name: str


def _run_import(
    actor: Actor,
    rows: list[ImportRow],
    run: ImportRun,
    options: _Options,
    progress: Progress,
    now: dt.datetime,
) -> ImportReport:
    report = ImportReport(run=run)
    try:
        rules = load_rules()
    except OwnerRulesError as exc:
        # The rules changed since the upload was accepted: the run says why it failed.
        report.errors.append({"line": 0, "external_id": "", "errors": [str(exc)]})
        finish_run(run, ImportRun.Status.FAILED, report, now)
        return report
    try:
        with transaction.atomic(), _expiry_as(options.source_format), importing():
            hold_writer_lock()  # before any read or lock: runtime/writer_lock.py
            _import_rows(actor, rows, run, report, options.steward, rules, now, progress)
            if options.full_sync:
                report.counts["not_seen"] = flag_not_seen(run, now)
            if options.dry_run or (report.errors and not options.partial):
                raise _RollBack
            audit_record(
                actor=actor,
                action="import.applied",
                obj=run,
                now=now,
                changes={"counts": [None, dict(sorted(report.counts.items()))]},
                reason=f"{options.source_format} import of {options.file_name or 'a file'}",
            )
            # The run ends in the import's own transaction: a worker killed after the
            # commit cannot leave an applied import "running" (to be run again), and
            # one taken for dead whose run was handed to another worker commits nothing.
            if not finish_run(run, ImportRun.Status.APPLIED, report, now):
                raise _Superseded
    except _RollBack:
        status = ImportRun.Status.DRY_RUN if options.dry_run else ImportRun.Status.REFUSED
        finish_run(run, status, report, now)
    except _Superseded:
        log.warning("import %s: taken back from this worker; its work was rolled back", run.pk)
        run.refresh_from_db()
    except Exception as exc:  # a worker's deadline, a lost database: say so, then raise
        why = f"The import stopped ({exc.__class__.__name__}); nothing was changed."
        report.errors.append({"line": 0, "external_id": "", "errors": [why]})
        finish_run(run, ImportRun.Status.FAILED, report, now)
        raise
    return report


def _expiry_as(source_format: str) -> AbstractContextManager:
    return nullcontext() if source_format in PEOPLE_FORMATS else source_stated_expiry()


def _import_rows(
    actor: Actor,
    rows: list[ImportRow],
    run: ImportRun,
    report: ImportReport,
    steward: Team | None,
    rules: list[OwnerRule],
    now: dt.datetime,
    progress: Progress | None,
) -> None:
    """Rows in chunks. First the database says which rows it already holds exactly as
    stated (their content hash, services/import_staging.py): those cost no load and no
    write beyond the run's stamp. One query loads the rest's registered paths; a row
    that changes nothing is recognised by comparing fields (and its path gets its hash),
    new plain rows are built by the rules of registering and inserted together, and
    everything else (edits, retirements, owners, tags, history) goes one at a time
    through the ordinary services. The dashboard's facts of every path the chunk wrote
    are refreshed once per chunk, in the import's transaction."""
    teams: dict[str, Team | None] = {}
    done = 0
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        for row in chunk:
            _resolve_teams(row, teams)
        keys = Counter(row_key(row) for row in chunk)
        # What each row states, before the defaults a new row gets (the steward).
        digests = [import_digest(row.data, row.interactive_login) for row in chunk]
        staged = _staged(chunk, digests, keys, now)
        settled, known = recognised_in_database(staged, now=now)
        if settled:  # a Counter keeps the zeros it is given: the run's counts would show one
            report.counts["unchanged"] += len(settled)
        # Staged rows whose key the database does not hold are new: nothing to load.
        unknown = {pos for pos, *_ in staged} - known
        registered = registered_paths(
            [row for pos, row in enumerate(chunk) if pos not in settled and pos not in unknown]
        )
        seen: set = set(settled.values())
        written: set = set()
        hashes: dict[Any, str] = {}
        fresh: list[tuple[ImportRow, str]] = []
        one_by_one: list[ImportRow] = []
        retired_listed: list[AccessPath] = []
        for pos, row in enumerate(chunk):
            if pos in settled:
                continue
            existing = registered.get(row_key(row))
            if existing is not None:
                # The source reported it, whatever becomes of the row: a full sync must
                # not flag it as missing.
                seen.add(existing.pk)
                # Facts of how the registry first learned of a path, and the steward a
                # person may since have chosen, are not the import's to change.
                if existing.created_via != AccessPath.CreatedVia.UNKNOWN:
                    row.data.pop("created_via", None)
            elif steward is not None:
                row.data.setdefault("steward_team", steward)
            if row.errors:
                _fail(report, row, {"": row.errors})
            elif (
                existing is not None and not is_live(existing, now) and not gone_at_source(row, now)
            ):
                # Retired here but still listed by the source: worth a look downstream.
                report.counts["listed_but_retired"] += 1
                retired_listed.append(existing)
            elif existing is not None and states_nothing_new(row, existing, now):
                report.counts["unchanged"] += 1
                # Compared once: next time the database recognises it.
                hashes[existing.pk] = stored_hash(digests[pos], existing.version)
            elif existing is None and keys[row_key(row)] == 1 and plain_new(row, now):
                fresh.append((row, digests[pos]))
            else:
                # Edits, retirements, owners, tags, history, a key listed twice (applied
                # in file order): one at a time through the ordinary services.
                one_by_one.append(row)
        born = _register_fresh(actor, fresh, run, report, written, now)
        one_by_one += [row for at, (row, _) in enumerate(fresh) if at not in born]
        for row in one_by_one:
            _apply_one(actor, row, run, report, seen, written, now)
        # -- identifiers: registry/services/identifiers.py records ImportRow.identifiers --
        for row, found in identifiers_import(
            actor=actor, rows=chunk, source=run.source_format, now=now
        ):
            _fail(report, row, found)
        # -- end identifiers --
        store_hashes(hashes)
        written |= stamp(seen, run, now)
        seen |= {path_id for path_id in born.values() if path_id is not None}
        _still_listed(actor, retired_listed, run, report, now)
        written |= suggest_owners(rules, chunk, seen, teams)
        if written:
            refresh_facts(sorted(written, key=str), now=now)
        done += len(chunk)
        if progress is not None:
            progress(done, len(rows))


def _staged(
    chunk: list[ImportRow], digests: list[str], keys: Counter, now: dt.datetime
) -> list[tuple[int, str, str, str, str]]:
    """The rows the database may settle as unchanged: valid, still usable, listed once
    in the chunk, keyed, and without a review date to carry over (whether it is newer
    is compared field by field). The stated `created_via` goes along: it counts only
    against a path whose origin is still unknown ("unknown" itself never changes one)."""
    staged = []
    for pos, row in enumerate(chunk):
        system, external_id = row_key(row)
        if (
            row.errors
            or not isinstance(system, str)
            or not isinstance(external_id, str)
            or not system
            or not external_id
            or keys[(system, external_id)] != 1
            or "last_attested_at" in row.data
            or gone_at_source(row, now)
        ):
            continue
        created_via = row.data.get("created_via") or ""
        if created_via == AccessPath.CreatedVia.UNKNOWN or not isinstance(created_via, str):
            created_via = "" if created_via == AccessPath.CreatedVia.UNKNOWN else "?"
        staged.append((pos, system, external_id, digests[pos], created_via))
    return staged


def _register_fresh(
    actor: Actor,
    fresh: list[tuple[ImportRow, str]],
    run: ImportRun,
    report: ImportReport,
    written: set,
    now: dt.datetime,
) -> dict[int, Any]:
    """Register the chunk's new plain rows together: each built and validated by the
    rules of registering (services.paths._new_path, as path_register does), inserted in
    one statement (services/import_staging.py), audited in one append. They are born
    with the run's stamp (one write per row, not an insert and then an update).
    Returns {position in `fresh`: path id, or None when refused} for the rows it
    settled; the others go one at a time, because a concurrent registration took their
    key first."""
    if not fresh:
        return {}
    settled: dict[int, Any] = {}
    policy = current_policy()
    built: list[tuple[int, AccessPath, dict]] = []
    for at, (row, digest) in enumerate(fresh):
        data = dict(row.data)
        if row.interactive_login is not None:
            data["interactive_login"] = row.interactive_login
        try:
            path, tags, revokers, changes = _new_path(actor, data, now=now, policy=policy)
        except Invalid as exc:
            _fail(report, row, exc.errors)
            settled[at] = None
            continue
        if tags or revokers:  # plain_new lets no row with tags or revoker teams through
            raise ValueError("a plain new row has no tags or revoker teams")
        if states_nothing_new(row, path, now):
            # Holds exactly what the row states: the next import of it is settled in
            # the database.
            path.content_hash = stored_hash(digest, path.version)
        path.import_source, path.last_import_run, path.last_seen_at = run.source_format, run, now
        built.append((at, path, changes))
    inserted = insert_new_paths([path for _, path, _ in built])
    entries: list[AuditEntry] = []
    for at, path, changes in built:
        if path.pk not in inserted:
            continue
        report.counts["created"] += 1
        settled[at] = path.pk
        written.add(path.pk)
        entries.append(AuditEntry(action="access_path.registered", obj=path, changes=changes))
    audit_record_many(actor=actor, now=now, entries=entries)
    return settled


def _apply_one(
    actor: Actor,
    row: ImportRow,
    run: ImportRun,
    report: ImportReport,
    seen: set,
    written: set,
    now: dt.datetime,
) -> None:
    try:
        with transaction.atomic():
            outcome, path = _one_row(actor, row, run, now)
    except Invalid as exc:
        _fail(report, row, exc.errors)
    except ServiceError as exc:
        _fail(report, row, {"": [exc.message]})
    else:
        report.counts[outcome] += 1
        if path is not None:
            seen.add(path.pk)
            if outcome != "unchanged":
                written.add(path.pk)


def _still_listed(
    actor: Actor, paths: list[AccessPath], run: ImportRun, report: ImportReport, now: dt.datetime
) -> None:
    """A full sync is the source's whole listing: a credential retired here that it still
    lists may still work there. Flag those paths (services/source.py, first sighting
    only) and name them in the run's report. Other imports only count them."""
    if not run.full_sync or not paths:
        return
    paths_flag_still_listed(
        actor=actor, path_ids=[p.pk for p in paths], source=run.source_format, now=now
    )
    room = MAX_REPORTED_ERRORS - len(report.still_listed)
    report.still_listed += [
        {"id": str(p.pk), "name": p.name, "external_id": p.external_id} for p in paths[:room]
    ]


def _fail(report: ImportReport, row: ImportRow, found: Mapping[str, list[str]]) -> None:
    report.counts["failed"] += 1
    if len(report.errors) < MAX_REPORTED_ERRORS:
        messages = [f"{k}: {m}" if k else m for k, ms in found.items() for m in ms]
        report.errors.append(
            {"line": row.line, "external_id": str(row.data.get("external_id", "")),
             "errors": messages}
        )  # fmt: skip


def finish_run(run: ImportRun, status: str, report: ImportReport, now: dt.datetime) -> bool:
    """End this attempt of the run with `status` and its report, and start its upload's
    retention. Compare-and-set on the attempt: False (and nothing written) when the run
    was taken back from this worker (services/import_recovery.py) meanwhile."""
    counts = dict(sorted(report.counts.items()))
    processed = sum(report.counts[k] for k in OUTCOMES)
    ended = ImportRun.objects.filter(
        pk=run.pk, status=ImportRun.Status.RUNNING, attempts=run.attempts
    ).update(
        status=status, counts=counts, errors=report.errors, finished_at=now,
        processed=processed, total=processed, still_listed=report.still_listed,
    )  # fmt: skip
    if ended != 1:
        return False
    run.status, run.counts, run.finished_at = status, counts, now
    run.errors, run.still_listed = report.errors, report.still_listed
    run.processed = run.total = processed
    expire_upload(run, finished_at=now)
    return True


def expire_upload(run: ImportRun, *, finished_at: dt.datetime) -> None:
    """An ended run's upload is deleted NHI_IMPORT_UPLOAD_RETENTION_HOURS later (the
    periodic imports task purges it)."""
    if run.upload_id is None:
        return
    expires_at = upload_expires_at(
        finished_at=finished_at,
        retention_hours=settings.NHI_IMPORT_UPLOAD_RETENTION_HOURS,
        errors_found=run.errors or [],
    )
    StoredFile.objects.filter(pk=run.upload_id, purged_at__isnull=True).update(
        expires_at=expires_at
    )
