"""GET /api/v1/notifications/ filters by status, channel, reason, team and path (issue
14: `?status=dead` used to be ignored); an unknown value is a 400 naming the field.
Filters narrow the caller's own scope, never widen it."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from registry.models import Notification
from tests.api.helpers import assert_error, results

pytestmark = pytest.mark.django_db


@pytest.fixture
def outbox(personas, own, other):
    """Five rows across statuses, channels, reasons, teams and paths."""
    now = timezone.now()
    teams = personas.teams

    def row(team, path, *, status, channel="email", reason="review_reminder", stage=0):
        return Notification.objects.create(
            team=team,
            path=path,
            channel=channel,
            reason=reason,
            status=status,
            stage=stage,
            cycle=now,
            next_attempt_at=now,
            created_at=now,
        )

    return {
        "pending": row(teams.payments, own, status="pending"),
        "dead_email": row(teams.payments, own, status="dead", stage=1),
        "dead_slack": row(teams.payments, own, status="dead", channel="slack", reason="lapsed"),
        "sent": row(teams.payments, own, status="sent", reason="expired"),
        "data_dead": row(teams.data, other, status="dead"),
    }


def ids(response) -> set[int]:
    assert response.status_code == 200, response.content
    return {item["id"] for item in results(response)}


LIST = reverse("notification-list")


def test_status_dead_lists_only_dead_letters(sam, outbox):
    expected = {outbox[k].pk for k in ("dead_email", "dead_slack", "data_dead")}
    assert ids(sam.get(LIST, {"status": "dead"})) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"channel": "slack"}, {"dead_slack"}),
        ({"reason": "expired"}, {"sent"}),
        ({"team": "data"}, {"data_dead"}),
        ({"status": "dead", "channel": "email", "team": "payments"}, {"dead_email"}),
    ],
    ids=["channel", "reason", "team", "combined"],
)
def test_each_filter_narrows_the_list(sam, outbox, query, expected):
    assert ids(sam.get(LIST, query)) == {outbox[k].pk for k in expected}


def test_path_filter(sam, outbox, other):
    assert ids(sam.get(LIST, {"path": str(other.pk)})) == {outbox["data_dead"].pk}


def test_filters_stay_inside_the_callers_scope(pat, outbox):
    """pat (payments) asking for the data team's rows gets none of them."""
    assert ids(pat.get(LIST, {"status": "dead"})) == {
        outbox["dead_email"].pk,
        outbox["dead_slack"].pk,
    }
    assert ids(pat.get(LIST, {"team": "data"})) == set()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("status", "buried"),
        ("channel", "pigeon"),
        ("reason", "because"),
        ("team", "no-such-team"),
        ("path", "not-a-uuid"),
    ],
)
def test_an_unknown_value_is_a_400_naming_the_field(sam, outbox, field, value):
    assert_error(sam.get(LIST, {field: value}), 400, errors=[field])
