"""Writing paths out: the inventory's download, the background export runs,
`export_paths` (CSV or JSON) and the evidence pack share these columns and the
spreadsheet-safety rule.

The rows are read for a million-path estate: plain values (`values_list`, no model
instances) through a server-side cursor (`.iterator()`: a named cursor on PostgreSQL,
planned for every row), team slugs from one dict loaded once (there are few teams), tags
and revoker teams one query each per CHUNK paths (selectors/by_ids: the ids one array
parameter on PostgreSQL), and the control-point owners from
registry.rules.control_points, asked once per distinct combination of the inputs it
reads (a whole estate has a handful). Queries: a constant number per CHUNK paths.

`violations` (rule codes) and `framework_ids` (the OWASP NHI, NIST CSF 2.0 and AI RMF
ids those rules map to) are the posture rules each path breaks at the export's start
and no exception waives, read from its stored facts (PathFacts.flags) where they are
still valid, the others classified exactly then: one or two queries per CHUNK
(selectors/violations.Violations). The export refreshes nothing itself: it is a read,
and it stays exact while the sweep is late. CSV writes the codes space-separated and
the framework ids separated by "; " (an AI RMF id has a space in it); JSON writes lists.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator, Sequence
from operator import itemgetter
from typing import Any

from django.db import connections, models
from django.db.models import F, Func, QuerySet
from django.utils import timezone

from registry.models import AccessPath, ExportRun, SystemControlPolicy, Team
from registry.rules.actors import Actor
from registry.rules.control_points import (
    CONTROL_POINTS,
    PATH_FIELDS,
    control_point_owners,
    policies_by_system,
)
from registry.rules.exports import may_read_export
from registry.rules.policies import current_policy
from registry.runtime.cursor_plan import batched, planned_for_every_row
from registry.selectors.by_ids import revoker_slugs, rows_by_ids, tag_slugs
from registry.selectors.violations import Violations

COLUMNS = [
    "id", "name", "kind", "system", "external_id", "environment", "status", "owner_team",
    "steward_team", "created_via", "created_by_ref", "consumers", "ticket_url",
    "artifact_ref", "justification", "privilege_scope", "risk_tier", "data_classification",
    "credential_lifetime", "rotation_days", "last_rotated_at", "last_used_at",
    "requires_human_signoff", "revocation_plan", "rollback_plan", "expires_at",
    "review_interval_days",
    "last_attested_at", "next_review_at", "escalation_stage", "version", "interactive_login",
    "import_source", "last_seen_at", "not_seen_since", "created_at", "updated_at",
    "approved_by", "approved_by_team", "approved_at", "approval_ticket_url", "revoker_teams",
    "iam_team", "pam_team", "secops_team",
    "mfa_active", "issuer_kind", "max_lease_seconds",
    "change_url", "merged_by", "merged_by_team", "proposed_by",
    "iam_owner", "pam_owner", "runtime_owner", "secops_owner", "tags",
    "violations", "framework_ids",
]  # fmt: skip
# The effective control-point owners (registry.rules.control_points): the path's own team,
# the system's default, or the steward; the `*_team` columns are the path's own values,
# which the registry format imports back (the `*_owner` ones it ignores).
OWNER_COLUMNS = {f"{point}_owner": point for point in CONTROL_POINTS}
TEAM_COLUMNS = ("owner_team", "steward_team", "approved_by_team", "iam_team", "pam_team",
                "secops_team", "merged_by_team")  # fmt: skip
# Paths per round of tag and revoker queries, and per server-side cursor fetch.
CHUNK = 2000
# The pieces a download is written in: large enough that a million rows are not a
# million socket writes, small enough to keep memory flat.
STREAM_PIECE_BYTES = 64 * 1024
CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "json": "application/json"}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

# What is read from the database, in COLUMNS order: team columns as their ids, the
# columns computed per chunk (revokers, owners, tags) left out and put in afterwards.
_COMPUTED = ("revoker_teams", *OWNER_COLUMNS, "tags", "violations", "framework_ids")
_FETCHED = [
    f"{column}_id" if column in TEAM_COLUMNS else column
    for column in COLUMNS
    if column not in _COMPUTED
]
_REVOKERS_AT = COLUMNS.index("revoker_teams")
_TAGS_AT = COLUMNS.index("tags")
_VIOLATIONS_AT = COLUMNS.index("violations")
_FRAMEWORKS_AT = COLUMNS.index("framework_ids")
_TEAMS_AT = [_FETCHED.index(f"{column}_id") for column in TEAM_COLUMNS]
_DATETIMES_AT = [
    index
    for index, name in enumerate(_FETCHED)
    if isinstance(
        next((f for f in AccessPath._meta.concrete_fields if f.attname == name), None),
        models.DateTimeField,
    )
]
# What control_point_owners reads of a path: its system (for the policy), its steward
# and its own control-point teams (registry.rules.control_points.PATH_FIELDS).
_OWNER_INPUTS = ("system", "steward_team_id", *(f"{field}_id" for field in PATH_FIELDS.values()))
_OWNER_INPUTS_AT = [_FETCHED.index(name) for name in _OWNER_INPUTS]


class _IsoFormatUtc(Func):
    """A timestamptz as Python's `datetime.isoformat()` writes it in UTC, formatted by
    PostgreSQL: psycopg loads a timestamptz in Python code (Django's time-zone loader),
    which alone held a million-row export to a few thousand rows a second."""

    template = (
        "(to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') || "
        "CASE WHEN to_char(%(expressions)s, 'US') = '000000' THEN '' "
        "ELSE to_char(%(expressions)s, '.US') END || '+00:00')"
    )
    output_field = models.TextField()


def _fetched(qs: QuerySet[AccessPath]) -> tuple[QuerySet, bool]:
    """`qs` reduced to the values an export reads, in _FETCHED order, and whether its
    date-times come as ISO text already (PostgreSQL) or as datetimes (SQLite)."""
    if connections[qs.db].vendor != "postgresql":
        return qs.values_list(*_FETCHED), False
    iso = {f"{_FETCHED[index]}_iso": _IsoFormatUtc(F(_FETCHED[index])) for index in _DATETIMES_AT}
    names = [f"{name}_iso" if f"{name}_iso" in iso else name for name in _FETCHED]
    return qs.annotate(**iso).values_list(*names), True


def csv_safe(value: Any) -> str:
    """A spreadsheet must not run a cell as a formula (CSV injection)."""
    text = "" if value is None else str(value)
    if text[:1] in _FORMULA_START:
        return "'" + text
    return text


class _Teams:
    """Team id to team, read once; read again if a team appears during the export."""

    def __init__(self) -> None:
        self._load()

    def _load(self) -> None:
        self.by_id: dict[int, Team] = {team.pk: team for team in Team.objects.all()}
        # What a row's team columns become, looked up without a call per cell.
        self.slugs: dict[int, str] = {pk: team.slug for pk, team in self.by_id.items()}

    def get(self, team_id: int | None) -> Team | None:
        if team_id is None:
            return None
        team = self.by_id.get(team_id)
        if team is None:
            self._load()
            team = self.by_id[team_id]
        return team

    def slug(self, team_id: int | None) -> str | None:
        team = self.get(team_id)
        return team.slug if team is not None else None


class _Owners:
    """Each distinct (system, steward, iam, pam, secops) combination's effective owners,
    asked of registry.rules.control_points once: the rule stays the one home, and a
    million rows cost a few calls."""

    def __init__(self, teams: _Teams, policies: dict[str, SystemControlPolicy]) -> None:
        self._teams = teams
        self._policies = policies
        self._known: dict[tuple[Any, ...], list[str | None]] = {}

    def slugs(self, key: tuple[Any, ...]) -> list[str | None]:
        found = self._known.get(key)
        if found is None:
            path = AccessPath(**dict(zip(_OWNER_INPUTS, key, strict=True)))
            for relation in ("steward_team", *PATH_FIELDS.values()):
                setattr(path, relation, self._teams.get(getattr(path, f"{relation}_id")))
            owners = control_point_owners(path, self._policies.get(path.system))
            found = [owner.team.slug if owner.team else None for owner in owners.values()]
            self._known[key] = found
        return found


def _slugs_by_path(build: Callable[[Any], QuerySet], ids: Sequence[Any], using: str) -> dict:
    """{path id: [slug, ...]} sorted by slug, for the paths `ids`: one query."""
    found: dict[Any, list[str]] = {}
    for path_id, value in rows_by_ids(build, "accesspath_id", ids, using):
        found.setdefault(path_id, []).append(value)
    return found


def export_rows(
    qs: QuerySet[AccessPath], progress: Callable[[int], None] | None = None
) -> Iterator[list[Any]]:
    """Each path `qs` selects (annotated with `status`, as path_list gives it), oldest
    first, as its COLUMNS values: plain JSON values (ISO dates, slugs, lists for tags,
    revoker teams, violations and framework ids). `progress(rows so far)` is called
    after every CHUNK rows."""
    violations = Violations(now=timezone.now(), policy=current_policy(), using=qs.db)
    teams = _Teams()
    owners = _Owners(teams, policies_by_system())
    selected, dates_as_text = _fetched(qs.order_by("created_at", "id"))
    cursor = planned_for_every_row(selected.iterator(chunk_size=CHUNK), selected.db)
    slug_of = teams.slug
    owner_inputs = itemgetter(*_OWNER_INPUTS_AT)
    done = 0
    for batch in batched(cursor, CHUNK):
        ids = [row[0] for row in batch]
        tags = _slugs_by_path(tag_slugs, ids, selected.db)
        revokers = _slugs_by_path(revoker_slugs, ids, selected.db)
        flags = violations.flags(ids)
        slugs = teams.slugs
        for row in batch:
            values = list(row)
            path_id = values[0]
            values[0] = str(path_id)
            if not dates_as_text:
                for index in _DATETIMES_AT:
                    value = values[index]
                    if value is not None:
                        values[index] = value.isoformat()
            for index in _TEAMS_AT:
                team_id = values[index]
                if team_id is not None:
                    values[index] = slugs.get(team_id) or slug_of(team_id)
            values.insert(_REVOKERS_AT, revokers.get(path_id, []))
            values.extend(owners.slugs(owner_inputs(row)))
            values.append(tags.get(path_id, []))
            values.extend(violations.described(flags.get(path_id, 0)))
            yield values
        done += len(batch)
        if progress is not None:
            progress(done)


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_lines(
    qs: QuerySet[AccessPath], progress: Callable[[int], None] | None = None
) -> Iterator[str]:
    """The paths as CSV text, a line at a time; the header first. The registry's own
    import reads it back (registry.importers.registry_format). csv_safe's rule, inlined
    for the million cells of a large export: the writer itself writes None as an empty
    cell and numbers and booleans as str() does."""
    writer = csv.writer(_Echo())
    yield writer.writerow(COLUMNS)
    for row in export_rows(qs, progress):
        row[_REVOKERS_AT] = " ".join(row[_REVOKERS_AT])
        row[_TAGS_AT] = " ".join(row[_TAGS_AT])
        row[_VIOLATIONS_AT] = " ".join(row[_VIOLATIONS_AT])
        row[_FRAMEWORKS_AT] = "; ".join(row[_FRAMEWORKS_AT])
        yield writer.writerow(
            [
                "'" + value if value.__class__ is str and value[:1] in _FORMULA_START else value
                for value in row
            ]
        )


# JSON records with their keys in sorted order, built in that order (json.dumps keeps
# it), rather than sorted again for every record.
_JSON_KEYS = sorted(COLUMNS)
_JSON_ORDER = [COLUMNS.index(key) for key in _JSON_KEYS]


def json_chunks(
    qs: QuerySet[AccessPath], progress: Callable[[int], None] | None = None
) -> Iterator[str]:
    """The paths as one JSON list, written a path at a time, each record's keys sorted."""
    yield "["
    separator = "\n"
    for row in export_rows(qs, progress):
        record = dict(zip(_JSON_KEYS, [row[index] for index in _JSON_ORDER], strict=True))
        yield separator + json.dumps(record)
        separator = ",\n"
    yield "\n]\n"


WRITERS = {"csv": csv_lines, "json": json_chunks}


def export_pieces(
    qs: QuerySet[AccessPath], fmt: str, progress: Callable[[int], None] | None = None
) -> Iterator[bytes]:
    """The export as UTF-8 bytes in pieces of about STREAM_PIECE_BYTES (a download's
    body, a stored file's content)."""
    pending: list[str] = []
    size = 0
    for text in WRITERS[fmt](qs, progress):
        pending.append(text)
        size += len(text)
        if size >= STREAM_PIECE_BYTES:
            yield "".join(pending).encode("utf-8")
            pending, size = [], 0
    if pending:
        yield "".join(pending).encode("utf-8")


def export_file_name(fmt: str, stamp: Any) -> str:
    """What the download is called: the time it describes, in UTC."""
    return f"nhi-paths-{stamp.strftime('%Y%m%dT%H%M%SZ')}.{fmt}"


def count_up_to(qs: QuerySet[AccessPath], limit: int) -> int:
    """How many paths `qs` selects, counting no further than `limit` (one bounded
    COUNT: the answer is only ever compared with `limit`)."""
    return qs.order_by().values("pk")[:limit].count()


# --- background export runs -------------------------------------------------------------


def export_run_for(*, actor: Actor, run_id: Any) -> ExportRun | None:
    """A background export the actor may see (its page, its file), or None: anyone else
    gets 404, never a hint that it exists."""
    run = ExportRun.objects.select_related("file").filter(pk=run_id).first()
    if run is None or not may_read_export(actor, run):
        return None
    return run


def queued_exports(*, limit: int = 100) -> list[str]:
    """Exports still waiting for a worker, oldest first."""
    queued = ExportRun.objects.filter(status=ExportRun.Status.QUEUED).order_by("created_at")
    return [str(pk) for pk in queued.values_list("pk", flat=True)[:limit]]
