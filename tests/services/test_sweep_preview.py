"""The coming-reminders preview and the sweep agree: run the sweep once a day for 60
simulated days and it sends each team exactly what the preview predicted, steward teams,
security, leads and event webhooks included, each on the first sweep at or after the
moment the preview gave. Plus the two bugs this rule's single home fixed."""

from __future__ import annotations

import datetime as dt

import pytest

from registry import services
from registry.models import Notification, Team
from registry.notifications.wording import describe_notification
from registry.selectors.reminders import reminder_preview
from registry.services.sweep import sweep
from tests.conftest import NOW

DAY = dt.timedelta(days=1)
# Sweeps run daily an hour after the scenario's events (which fall at 12:00).
FIRST_SWEEP = NOW + dt.timedelta(hours=1)
DAYS = 60

pytestmark = pytest.mark.django_db


def _sweep_day(at: dt.datetime) -> int:
    """The day of the first daily sweep at or after `at`."""
    days, rest = divmod(at - FIRST_SWEEP, DAY)
    return days + (1 if rest else 0)


@pytest.fixture
def estate(personas, make_path):
    teams = personas.teams
    Team.objects.filter(pk=teams.growth.pk).update(
        event_webhook_url="https://hooks.example.com/growth"
    )
    paths = {
        # Review due on day 10: reminders, then the whole ladder to lapsed on day 24.
        "ladder": make_path(name="ladder", steward_team=teams.platform, now=NOW - 80 * DAY),
        # Expires on day 20, before its review: expiry reminders, expiry, the source
        # confirmation security waits for; no review reminders after the expiry.
        "expiring": make_path(name="expiring", now=NOW - 30 * DAY, expires_at=NOW + 20 * DAY),
        # Unowned, stewarded by platform: unclaimed on day 5, expiry notices to the
        # steward, expired on day 30.
        "unowned": make_path(
            name="unowned",
            owner_team=None,
            steward_team=teams.platform,
            justification="",
            ticket_url="",
            now=NOW - 2 * DAY,
            expires_at=NOW + 30 * DAY,
        ),
        # Registered 12 days before its expiry (the 14-day reminder goes at once).
        "short": make_path(name="short", owner_team=teams.data, expires_at=NOW + 12 * DAY),
        # A team with an event webhook: its lapse is published there too.
        "hooked": make_path(
            name="hooked",
            owner_team=teams.growth,
            approved_by="gwen",
            now=NOW - 82 * DAY,
        ),
        # Claimed by data (claim reminder to security on day 3).
        "claimed": make_path(
            name="claimed",
            owner_team=None,
            steward_team=teams.platform,
            justification="",
            ticket_url="",
            now=NOW - DAY,
        ),
        # Offered to data (transfer reminder to data on day 7).
        "offered": make_path(name="offered", now=NOW - 10 * DAY),
        # A claim and a transfer on paths that expire first: the expiry closes them, so
        # no reminder about them is due (nor predicted).
        "claimed_short": make_path(
            name="claimed-short",
            owner_team=None,
            steward_team=teams.platform,
            justification="",
            ticket_url="",
            now=NOW - DAY,
            expires_at=NOW + DAY + 5 * dt.timedelta(hours=1),
        ),
        "offered_short": make_path(name="offered-short", expires_at=NOW + 2 * DAY),
    }
    services.path_claim(
        actor=personas.dana,
        path=paths["claimed"],
        team=teams.data,
        reason="The data team runs this export now.",
        now=NOW,
    )
    for offered in ("offered", "offered_short"):
        services.path_transfer(
            actor=personas.lee,
            path=paths[offered],
            to_team=teams.data,
            reason="The data team runs this export now.",
            now=NOW,
        )
    services.path_claim(
        actor=personas.dana,
        path=paths["claimed_short"],
        team=teams.data,
        reason="The data team runs this export now.",
        now=NOW,
    )
    return paths


def _sent(since: int) -> set[tuple]:
    return {
        (n.team_id, n.audience, n.path_id, n.reason, n.stage, _sweep_day(n.created_at))
        for n in Notification.objects.filter(pk__gt=since)
    }


def test_sixty_days_of_sweeps_send_exactly_what_the_preview_predicted(estate):
    sweep(now=FIRST_SWEEP)  # what was already due before the preview
    before = Notification.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    predicted = set()
    for team in Team.objects.all():
        for item in reminder_preview(team=team, now=FIRST_SWEEP, days=DAYS):
            if item.recipient.team_id == team.pk:
                predicted.add(
                    (
                        team.pk,
                        item.recipient.audience,
                        item.path.pk,
                        item.reason,
                        item.stage,
                        _sweep_day(item.at),
                    )
                )
    for day in range(1, DAYS + 1):
        sweep(now=FIRST_SWEEP + day * DAY)
    sent = _sent(before)
    assert sent == predicted
    # The scenario is rich enough to mean something: every kind of notice occurs.
    reasons = {row[3] for row in sent}
    assert reasons >= {
        "review_reminder", "expiry_reminder", "review_overdue", "lapsed", "expired",
        "unclaimed", "claim_waiting", "transfer_waiting", "source_unconfirmed",
        "access_path.lapsed",
    }  # fmt: skip
    audiences = {row[1] for row in sent}
    assert audiences == {"members", "leads"}


def test_a_steward_team_sees_what_it_will_be_sent(estate, personas):
    """The bug: the platform team's page showed nothing although the sweep sends it the
    unowned path's escalation and expiry notices."""
    sweep(now=FIRST_SWEEP)
    preview = reminder_preview(team=personas.teams.platform, now=FIRST_SWEEP, days=DAYS)
    to_platform = {
        (item.path.name, item.reason)
        for item in preview
        if item.recipient.team_id == personas.teams.platform.pk
    }
    assert ("unowned", "unclaimed") in to_platform
    assert ("unowned", "expiry_reminder") in to_platform
    assert ("unowned", "expired") in to_platform
    assert ("claimed", "expiry_reminder") not in to_platform  # no expiry in 60 days


def test_a_reminder_says_the_days_left_not_which_reminder_fired(estate):
    """The bug: a path expiring in 12 days was announced as "Expires in 14 days"."""
    sweep(now=FIRST_SWEEP)
    notice = Notification.objects.get(
        path=estate["short"], reason="expiry_reminder", channel="email"
    )
    assert notice.stage == 14  # the 14-day reminder is the one that fired
    assert describe_notification(notice).startswith("Expires in 12 days (4 Dec 2026)")
    sweep(now=FIRST_SWEEP + 11 * DAY)
    last = Notification.objects.get(
        path=estate["short"], reason="expiry_reminder", stage=1, channel="email"
    )
    assert describe_notification(last).startswith("Expires tomorrow (4 Dec 2026)")
