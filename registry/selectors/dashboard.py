"""The dashboard's reads (selectors): a handful of queries whatever the estate's size.

1. The counts per owning team and status, with the posture rules, the expiring-soon
   window, the not-seen count and record quality: from the maintained tally, exact at
   the read (registry/selectors/tallies.py), never a pass over the estate.
2. The teams' names for the by-team table.
3. One grouped pass over the audit log's last weeks gives the weekly charts, each event
   in the week it happened (selectors.filters.event_moment: a lapse the sweep noticed
   late counts in the week the path lapsed, not the week of the sweep).
4. Open incidents and the median time to contain (registry/selectors/incidents.py; a second
   query on SQLite, which has no percentile).

Every number comes with the inventory query that lists exactly the paths it counts,
built from the same predicates (rules.status, rules.posture, selectors.filters).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.db.models import Case, Count, Q, Value, When
from django.db.models.functions import TruncWeek

from registry.models import AccessPath, AuditEvent, Team
from registry.rules.actors import Actor
from registry.rules.facts import OWNED_STATUSES
from registry.rules.policies import Policy
from registry.rules.posture import RECOMMENDED_FIELD_COUNT, RULES, PostureRule
from registry.rules.status import Status
from registry.selectors import visible_paths_q
from registry.selectors.filters import ANY_VIOLATION, TimelineEvent, event_moment, event_q
from registry.selectors.incidents import IncidentFigures, incident_figures
from registry.selectors.tallies import tally_groups


def query(**params) -> str:
    """An inventory query string; lists become repeated keys (?status=a&status=b)."""
    return urlencode(params, doseq=True)


@dataclass(frozen=True)
class Figure:
    label: str
    count: int
    query: str
    tone: str = ""
    key: str = ""


@dataclass(frozen=True)
class Violation:
    rule: PostureRule
    count: int
    query: str

    @property
    def nist_ids(self) -> tuple[str, ...]:
        """The NIST CSF 2.0 and AI RMF ids the rule supports (rules/frameworks.py)."""
        return self.rule.nist_csf + self.rule.ai_rmf


@dataclass(frozen=True)
class TeamRow:
    slug: str
    name: str
    owned: Figure
    overdue: Figure
    lapsed: Figure
    violating: Figure
    attested_pct: int | None
    attested: Figure
    quality_pct: int | None


@dataclass(frozen=True)
class Bar:
    """One week's bar; x/y/height are in the chart's SVG units (10 per week, 50 high)."""

    index: int
    week: dt.date
    count: int
    query: str
    height_pct: int

    @property
    def x(self) -> int:
        return self.index * 10 + 1

    @property
    def height(self) -> float:
        return max(self.height_pct / 2, 0.5)

    @property
    def y(self) -> float:
        return 55 - self.height

    @property
    def label_x(self) -> int:
        return self.x + 4

    @property
    def label_y(self) -> float:
        return self.y - 1.5


@dataclass(frozen=True)
class Chart:
    title: str
    bars: list[Bar]

    @property
    def total(self) -> int:
        return sum(bar.count for bar in self.bars)

    @property
    def width(self) -> int:
        return len(self.bars) * 10


@dataclass
class Dashboard:
    total: int
    by_status: list[Figure]
    headline: list[Figure]
    violations: list[Violation]
    teams: list[TeamRow]
    charts: list[Chart] = field(default_factory=list)
    incidents: IncidentFigures | None = None


def _percent(part: int, whole: int) -> int | None:
    return round(100 * part / whole) if whole else None


def _estate_counts(groups: list[dict]) -> dict[str, int]:
    keys = [f"status_{s.value}" for s in Status] + ["expiring", "not_seen"]
    keys += [f"r_{r.code}" for r in RULES]
    counts = {key: sum(int(group[key] or 0) for group in groups) for key in keys}
    counts["total"] = sum(counts[f"status_{s.value}"] for s in Status)
    return counts


def _team_rows(groups: list[dict]) -> list[TeamRow]:
    ids = [g["owner_team_id"] for g in groups if g["owner_team_id"] is not None]
    teams = {
        pk: (slug, name)
        for pk, slug, name in Team.objects.filter(pk__in=ids).values_list("pk", "slug", "name")
    }
    rows = []
    for group in groups:
        if group["owner_team_id"] is None:
            continue
        owned = sum(group[f"status_{s.value}"] for s in OWNED_STATUSES)
        if not owned:
            continue
        slug, name = teams[group["owner_team_id"]]
        rows.append(
            {
                "owner_team__slug": slug,
                "owner_team__name": name,
                "owned": owned,
                "attested": group["attested"],
                "overdue": group["status_overdue"],
                "lapsed": group["status_lapsed"],
                "violating": group["violating"],
                "quality": group["quality"],
            }
        )
    rows.sort(key=lambda r: (-r["lapsed"], -r["overdue"], r["owner_team__slug"]))
    return _team_table(rows)


# The status and posture parts of each team's links, the same for every team.
_OWNED_QUERY = query(status=[s.value for s in OWNED_STATUSES])
_ATTESTED_QUERY = query(attested_in_cycle="true")
_OVERDUE_QUERY = query(status=Status.OVERDUE.value)
_LAPSED_QUERY = query(status=Status.LAPSED.value)
_VIOLATING_QUERY = query(posture=ANY_VIOLATION)


def _team_table(rows: list[dict]) -> list[TeamRow]:
    result = []
    for row in rows:
        slug = row["owner_team__slug"]
        # query(owner_team=slug, status=…) for each figure, the team's part encoded once
        # (a few hundred teams make a thousand links).
        team = query(owner_team=slug)
        result.append(
            TeamRow(
                slug=slug,
                name=row["owner_team__name"],
                owned=Figure("Owned", row["owned"], f"{team}&{_OWNED_QUERY}"),
                overdue=Figure("Overdue", row["overdue"], f"{team}&{_OVERDUE_QUERY}", "warn"),
                lapsed=Figure("Lapsed", row["lapsed"], f"{team}&{_LAPSED_QUERY}", "bad"),
                violating=Figure("With violations", row["violating"], f"{team}&{_VIOLATING_QUERY}"),
                attested_pct=_percent(row["attested"], row["owned"]),
                attested=Figure("Attested in cycle", row["attested"], f"{team}&{_ATTESTED_QUERY}"),
                quality_pct=None
                if row["quality"] is None
                else round(100 * float(row["quality"]) / RECOMMENDED_FIELD_COUNT),
            )
        )
    return result


def _week_start(moment: dt.datetime) -> dt.datetime:
    day = moment.astimezone(dt.UTC).date()
    monday = day - dt.timedelta(days=day.weekday())
    return dt.datetime.combine(monday, dt.time.min, tzinfo=dt.UTC)


def _charts(actor: Actor, *, now: dt.datetime, policy: Policy) -> list[Chart]:
    first_week = _week_start(now) - dt.timedelta(weeks=policy.dashboard_weeks - 1)
    weeks = [first_week + dt.timedelta(weeks=i) for i in range(policy.dashboard_weeks)]
    series = {
        TimelineEvent.ATTESTED: "Paths attested per week",
        TimelineEvent.LAPSED: "Paths lapsed per week",
        TimelineEvent.REGISTERED_UNOWNED: "New unowned paths per week",
    }
    which = Case(
        *(When(event_q(event), then=Value(event.value)) for event in series),
        default=Value(""),
    )
    # An event happens at or before it is recorded: created_at bounds the index range,
    # the moment it happened picks the week.
    events = AuditEvent.objects.filter(created_at__gte=first_week, path__isnull=False)
    events = events.filter(
        Q(action__in=["access_path.attested", "access_path.lapsed", "access_path.registered"])
    )
    events = events.alias(moment=event_moment()).filter(moment__gte=first_week)
    scope = visible_paths_q(actor)
    if scope is not None:
        events = events.filter(path__in=AccessPath.objects.filter(scope))
    counts = (
        events.annotate(event=which, week=TruncWeek("moment", tzinfo=dt.UTC))
        .exclude(event="")
        .values("event", "week")
        .annotate(paths=Count("path_id", distinct=True))
    )
    by_key = {(row["event"], _week_start(row["week"])): row["paths"] for row in counts}
    charts = []
    for event, title in series.items():
        values = [by_key.get((event.value, week), 0) for week in weeks]
        top = max(values) or 1
        bars = [
            Bar(
                index=index,
                week=week.date(),
                count=value,
                query=query(
                    event=event.value,
                    event_after=week.isoformat(),
                    event_before=(week + dt.timedelta(weeks=1)).isoformat(),
                ),
                height_pct=round(100 * value / top),
            )
            for index, (week, value) in enumerate(zip(weeks, values, strict=True))
        ]
        charts.append(Chart(title, bars))
    return charts


def dashboard_stats(*, actor: Actor, now: dt.datetime, policy: Policy) -> Dashboard:
    groups = tally_groups(actor, now=now, policy=policy)
    counts = _estate_counts(groups)
    tones = {
        Status.OVERDUE: "warn",
        Status.REVIEW_DUE: "info",
        Status.LAPSED: "bad",
        Status.UNOWNED: "bad",
        Status.EXPIRED: "muted",
        Status.REVOKED: "muted",
        Status.ACTIVE: "good",
    }
    by_status = [
        Figure(s.label, counts[f"status_{s}"], query(status=s.value), tones.get(s, ""), s.value)
        for s in Status
    ]
    headline = [
        Figure("Unowned", counts["status_unowned"], query(status="unowned"), "bad"),
        Figure("Overdue", counts["status_overdue"], query(status="overdue"), "warn"),
        Figure("Lapsed", counts["status_lapsed"], query(status="lapsed"), "bad"),
        Figure(
            f"Expiring in {policy.expiring_soon_days} days",
            counts["expiring"],
            query(expiring_within_days=policy.expiring_soon_days),
            "info",
        ),
        Figure(
            "Not seen in last sync",
            counts["not_seen"],
            query(not_seen="true"),
            "warn",
        ),
    ]
    violations = [
        Violation(rule, counts[f"r_{rule.code}"], query(posture=rule.code)) for rule in RULES
    ]
    return Dashboard(
        total=counts["total"],
        by_status=by_status,
        headline=headline,
        violations=violations,
        teams=_team_rows(groups),
        charts=_charts(actor, now=now, policy=policy),
        incidents=incident_figures(actor=actor, now=now),
    )
