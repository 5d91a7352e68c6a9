"""The dashboard: the estate at a glance; every number links to its paths."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from registry.rules.policies import current_policy
from registry.selectors.dashboard import Figure, TeamRow, dashboard_stats
from registry.web.views._common import actor_for, request_now

_TEAM_ROW = (
    '<tr data-team="{slug}"><th scope="row"><a href="{team}">{name}</a></th>'
    '<td class="num">{owned}</td><td class="num">{overdue}</td><td class="num">{lapsed}</td>'
    '<td class="num">{attested}{attested_pct}</td><td class="num">{violating}</td>'
    '<td class="num">{quality}</td></tr>'
)
_QUALITY = (
    '<meter min="0" max="100" low="60" high="85" optimum="100" value="{pct}" '
    'aria-hidden="true"></meter> <a href="{inventory}?{query}" aria-label="Record quality '
    '{pct}%, averaged over {owned} owned paths">{pct}%</a>'
)
_SLUG_PLACEHOLDER = "team-slug-placeholder"


def _link(inventory: str, figure: Figure) -> str:
    return f'<a href="{inventory}?{escape(figure.query)}">{figure.count}</a>'


def _quality(inventory: str, row: TeamRow) -> str:
    if row.quality_pct is None:
        return "\u2014"  # an em dash
    return _QUALITY.format(
        pct=row.quality_pct, inventory=inventory, query=escape(row.owned.query),
        owned=row.owned.count,
    )  # fmt: skip


def team_rows_html(rows: list[TeamRow]) -> SafeString:
    """The by-team table's rows, written in Python: with a few hundred teams, the
    template engine's seven cells a row (each a link with its query) cost more than
    every query of the page, and so did format_html's escaping of every integer. Every
    text (slug, name, query string) is escaped here; the rest are numbers."""
    inventory = escape(reverse("registry:path-list"))
    team_link = reverse("registry:team-detail", args=[_SLUG_PLACEHOLDER])
    html = "".join(
        _TEAM_ROW.format(
            slug=escape(row.slug),
            team=escape(team_link.replace(_SLUG_PLACEHOLDER, row.slug)),
            name=escape(row.name),
            owned=_link(inventory, row.owned),
            overdue=_link(inventory, row.overdue),
            lapsed=_link(inventory, row.lapsed),
            attested=_link(inventory, row.attested),
            attested_pct=""
            if row.attested_pct is None
            else f' <span class="muted">({row.attested_pct}%)</span>',
            violating=_link(inventory, row.violating),
            quality=_quality(inventory, row),
        )
        for row in rows
    )
    return mark_safe(html)  # noqa: S308 - every text above went through escape()


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    actor = actor_for(request)
    stats = dashboard_stats(actor=actor, now=request_now(request), policy=current_policy())
    return render(
        request,
        "registry/dashboard.html",
        {
            "stats": stats,
            "team_rows": team_rows_html(stats.teams),
            "scope_is_everything": actor.sees_everything,
        },
    )
