"""An issuer's issuance, read from its hourly rollups (LeaseHour), never from the raw
leases (purged after the retention window): the path page's card and the API's GET.

Three queries at most, whatever the volume: the totals in one aggregate, the last 30
days' hourly rows (at most 720), and the last issuance when it is older than that.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass

from django.db.models import Max, Q, Sum

from registry.models import AccessPath, LeaseHour
from registry.rules.leases import OTHERS, hour_of, typical_bucket

RECENT_DAYS = 30
SERIES_HOURS = 48
TOP_RECORDERS = 5
_RECENT_FIELDS = (
    "hour", "leases", "total_seconds", "max_seconds", "buckets", "recorded_by",
    "last_issued_at", "last_subject",
)  # fmt: skip
_RECENT_FIELDS = (
    "hour", "leases", "total_seconds", "max_seconds", "buckets", "recorded_by",
    "last_issued_at", "last_subject",
)  # fmt: skip


@dataclass(frozen=True)
class HourCount:
    hour: dt.datetime
    leases: int


@dataclass(frozen=True)
class IssuanceSummary:
    leases_total: int
    leases_24h: int
    leases_30d: int
    longest_seconds: int | None  # all time
    longest_30d_seconds: int | None
    # The bucket holding the median lease of the last 30 days: its upper bound, or
    # None with typical_over_last when the median is longer than the last bound.
    typical_up_to_seconds: int | None
    typical_over_last: bool
    average_seconds: int | None  # last 30 days
    last_issued_at: dt.datetime | None
    last_subject: str
    # Who recorded the last 30 days' leases (token or person label, count), most first.
    recorded_by: list[tuple[str, int]]
    series: list[HourCount]  # the last 48 hours, oldest first, empty hours as 0
    max_lease_seconds: int | None

    @property
    def has_leases(self) -> bool:
        return self.leases_total > 0

    @property
    def series_peak(self) -> int:
        return max((point.leases for point in self.series), default=0)


def issuance_summary(issuer: AccessPath, *, now: dt.datetime) -> IssuanceSummary:
    """What `issuer` issued: volumes, lengths, the last issuance and who recorded it."""
    current = hour_of(now)
    day_from = current - dt.timedelta(hours=23)
    recent_from = current - dt.timedelta(days=RECENT_DAYS) + dt.timedelta(hours=1)
    series_from = current - dt.timedelta(hours=SERIES_HOURS - 1)
    hours = LeaseHour.objects.filter(issuer_id=issuer.pk)
    totals = hours.aggregate(
        total=Sum("leases"),
        day=Sum("leases", filter=Q(hour__gte=day_from)),
        longest=Max("max_seconds"),
    )
    recent = list(hours.filter(hour__gte=recent_from).order_by("hour").values(*_RECENT_FIELDS))
    buckets: Counter = Counter()
    recorders: Counter = Counter()
    per_hour: dict[dt.datetime, int] = {}
    for row in recent:
        buckets.update(row["buckets"])
        recorders.update(row["recorded_by"])
        per_hour[row["hour"]] = row["leases"]
    last = recent[-1] if recent else None
    if last is None and totals["total"]:
        last = hours.order_by("-hour").values("last_issued_at", "last_subject").first()
    recent_leases = sum(row["leases"] for row in recent)
    recent_seconds = sum(row["total_seconds"] for row in recent)
    typical, over_last = typical_bucket(buckets)
    # "others" (labels past the cap) is shown after the named recorders, whatever its count.
    others = recorders.pop(OTHERS, 0)
    top = recorders.most_common(TOP_RECORDERS)
    if others or len(recorders) > TOP_RECORDERS:
        top.append((OTHERS, others + sum(recorders.values()) - sum(n for _, n in top)))
    return IssuanceSummary(
        leases_total=totals["total"] or 0,
        leases_24h=totals["day"] or 0,
        leases_30d=recent_leases,
        longest_seconds=totals["longest"],
        longest_30d_seconds=max((row["max_seconds"] for row in recent), default=None),
        typical_up_to_seconds=typical,
        typical_over_last=over_last,
        average_seconds=round(recent_seconds / recent_leases) if recent_leases else None,
        last_issued_at=last["last_issued_at"] if last else None,
        last_subject=last["last_subject"] if last else "",
        recorded_by=top,
        series=[
            HourCount(
                hour=series_from + dt.timedelta(hours=n),
                leases=per_hour.get(series_from + dt.timedelta(hours=n), 0),
            )
            for n in range(SERIES_HOURS)
        ],
        max_lease_seconds=issuer.max_lease_seconds,
    )
