"""How leases are counted (issue 18): the fixed buckets of lease lengths, the hour a
lease is counted in, the cap on who recorded them, and which bucket is typical. One home
for the service that folds leases into LeaseHour and the selector that reads it back."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

# Lease lengths are counted in these buckets (upper bound in seconds, inclusive); a
# longer lease falls in OVER_LAST. Fixed, so hours recorded years apart add up.
BUCKETS: tuple[int, ...] = (
    60, 300, 900, 1800, 3600, 2 * 3600, 4 * 3600, 12 * 3600, 86400, 7 * 86400,
)  # fmt: skip
OVER_LAST = "more"
# LeaseHour.recorded_by keeps this many labels; the rest are counted as OTHERS.
MAX_RECORDED_BY = 20
OTHERS = "others"


def bucket_of(seconds: int) -> str:
    """The bucket (its key in LeaseHour.buckets) a lease of `seconds` is counted in."""
    for bound in BUCKETS:
        if seconds <= bound:
            return str(bound)
    return OVER_LAST


def hour_of(moment: dt.datetime) -> dt.datetime:
    """The start (UTC) of the hour a lease issued at `moment` is counted in."""
    return moment.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


def merged_recorded_by(counts: Mapping[str, int], label: str, added: int) -> dict[str, int]:
    """`counts` with `added` more for `label`: at most MAX_RECORDED_BY labels, the rest
    counted under OTHERS."""
    merged = dict(counts)
    named = len([key for key in merged if key != OTHERS])
    key = label if label in merged or named < MAX_RECORDED_BY else OTHERS
    merged[key] = merged.get(key, 0) + added
    return merged


def typical_bucket(buckets: Mapping[str, int]) -> tuple[int | None, bool]:
    """The bucket holding the median lease: (its upper bound, False), or (None, True)
    when the median is longer than the last bound; (None, False) with no leases."""
    count = sum(buckets.values())
    if not count:
        return None, False
    middle = (count + 1) // 2
    seen = 0
    for bound in BUCKETS:
        seen += buckets.get(str(bound), 0)
        if seen >= middle:
            return bound, False
    return None, True
