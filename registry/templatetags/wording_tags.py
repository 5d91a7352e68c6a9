"""Words and dates as people read them: one home for how a page says a moment, a number
of days or a stored code ("skipped_gone"), so no template glues raw values together.

Moments are shown in UTC, the registry's one time zone, with the zone named
("30 Nov 2026, 14:05 UTC"), inside a <time> element that carries the exact ISO value
for machines and assistive technology.
"""

from __future__ import annotations

import datetime as dt

from django import template
from django.utils.html import format_html

register = template.Library()

MOMENT_FORMAT = "%-d %b %Y, %H:%M UTC"
DAY_FORMAT = "%-d %b %Y"

# An import run's counts (services/imports.py OUTCOMES, plus "not_seen"), in words.
_IMPORT_COUNTS = {
    "created": "Created",
    "updated": "Updated",
    "unchanged": "Unchanged",
    "revoked": "Revoked",
    "skipped_gone": "Skipped (already gone at the source)",
    "listed_but_retired": "Listed but retired here",
    "failed": "Failed",
    "not_seen": "Not seen by this sync",
}


def _as_datetime(value) -> dt.datetime | None:
    """A datetime, or an ISO 8601 string holding one with a time (the audit trail stores
    its changes as JSON, so dates come back as strings); anything else is None."""
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and len(value) >= 16 and value[4:5] == "-" and "T" in value:
        try:
            return dt.datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC) if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


@register.filter
def moment(value) -> str:
    """ "30 Nov 2026, 14:05 UTC" for a datetime or an ISO string; other values unchanged."""
    when = _as_datetime(value)
    if when is None:
        return "" if value is None else str(value)
    return _utc(when).strftime(MOMENT_FORMAT)


@register.filter
def moment_tag(value):
    """The moment in a <time> element whose datetime attribute is the exact ISO value."""
    when = _as_datetime(value)
    if when is None:
        return "" if value is None else str(value)
    when = _utc(when)
    return format_html(
        '<time datetime="{}">{}</time>', when.isoformat(), when.strftime(MOMENT_FORMAT)
    )


@register.filter
def change_value(value):
    """One side of an audited change, readable: nothing is "—", yes/no for booleans,
    dates as moments, lists joined."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        # Plain words inside a list (the join would escape a <time> element).
        return ", ".join(moment(item) if item is not None else "—" for item in value) or "—"
    if _as_datetime(value) is not None:
        return moment_tag(value)
    return str(value)


@register.filter
def days(value) -> str:
    """ "1 day", "14 days": a count of days with the right plural."""
    try:
        count = int(value)
    except (TypeError, ValueError):
        return "" if value is None else str(value)
    return f"{count} day" if abs(count) == 1 else f"{count} days"


@register.filter
def code_words(value) -> str:
    """A stored code in words: "claim_approved" -> "claim approved",
    "access_path.lapsed" -> "lapsed" (the subject is the path the page is about)."""
    text = "" if value is None else str(value)
    if text.startswith("access_path."):
        text = text.removeprefix("access_path.")
    return text.replace("_", " ").replace(".", " ").strip()


@register.filter
def import_count_label(key) -> str:
    """The label of one of an import run's counts."""
    return _IMPORT_COUNTS.get(str(key), code_words(key).capitalize())
