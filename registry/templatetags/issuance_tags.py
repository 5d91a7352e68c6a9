"""The path page's issuance card (templates/registry/_issuance.html): what an issuer
path issued, from registry/selectors/leases.py, and lease lengths in words."""

from __future__ import annotations

from dataclasses import dataclass

from django import template

from registry.models import AccessPath
from registry.selectors.leases import IssuanceSummary, issuance_summary
from registry.web.views._common import request_now

register = template.Library()

# The hourly chart's drawing box (SVG user units): one bar per hour.
CHART_HEIGHT = 40
BAR_WIDTH = 6
BAR_GAP = 1


@dataclass(frozen=True)
class Bar:
    x: int
    y: int
    height: int
    title: str


@dataclass(frozen=True)
class IssuanceCard:
    summary: IssuanceSummary
    bars: list[Bar]
    width: int


@register.simple_tag(takes_context=True)
def issuance_for(context, path: AccessPath) -> IssuanceCard | None:
    """The card's content for an issuer path; None for any other path (no card)."""
    if not path.issuer_kind:
        return None
    summary = issuance_summary(path, now=request_now(context["request"]))
    peak = summary.series_peak
    bars = []
    for index, point in enumerate(summary.series):
        height = round(CHART_HEIGHT * point.leases / peak) if peak else 0
        if point.leases and not height:
            height = 1  # an hour with any lease shows
        bars.append(
            Bar(
                x=index * (BAR_WIDTH + BAR_GAP),
                y=CHART_HEIGHT - height,
                height=height,
                title=f"{point.hour:%-d %b %H:00} UTC: {point.leases:,} leases",
            )
        )
    return IssuanceCard(summary=summary, bars=bars, width=len(bars) * (BAR_WIDTH + BAR_GAP))


_UNITS = ((86400, "day", "days"), (3600, "h", "h"), (60, "min", "min"), (1, "s", "s"))


@register.filter
def lease_length(seconds) -> str:
    """ "15 min", "1 h 30 min", "2 days": a lease's length in its two largest units."""
    if seconds is None or seconds == "":
        return "—"
    left = int(seconds)
    parts = []
    for size, one, many in _UNITS:
        count, left = divmod(left, size)
        if count:
            parts.append(f"{count} {one if count == 1 else many}")
    return " ".join(parts[:2]) or "0 s"
