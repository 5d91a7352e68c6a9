"""The incident ladder on moved time: the owning team at once, its leads after an hour,
security after four; no duplicates on a second run; contained incidents stop; set-based
(constant queries per batch); the notices read well in the digest."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from registry import services
from registry.models import AuditEvent, Incident, Notification
from registry.notifications.wording import describe_notification
from registry.rules.actors import Actor
from registry.rules.policies import current_policy
from registry.services.incident_ladder import climb
from registry.services.sweep import sweep
from tests.conftest import NOW

pytestmark = pytest.mark.django_db

MINUTE = dt.timedelta(minutes=1)
HOUR = dt.timedelta(hours=1)


def incident_notices(incident: Incident) -> list[tuple[str, str, int]]:
    rows = Notification.objects.filter(
        reason="incident", path=incident.path, cycle=incident.detected_at
    )
    return sorted(rows.values_list("team__slug", "audience", "stage").distinct())


@pytest.fixture
def opened(personas, path) -> Incident:
    return services.incident_open(
        actor=personas.pat, path=path, summary="Key pasted in a public gist.", now=NOW
    )


def test_the_team_is_told_at_once_and_the_ladder_climbs_in_hours(personas, opened):
    assert opened.escalation_stage == 1
    team_only = [("payments", "members", 1)]
    assert incident_notices(opened) == team_only

    sweep(now=NOW + 30 * MINUTE)
    assert incident_notices(opened) == team_only

    sweep(now=NOW + HOUR)
    assert incident_notices(opened) == sorted([*team_only, ("payments", "leads", 2)])

    sweep(now=NOW + 4 * HOUR)
    expected = sorted([*team_only, ("payments", "leads", 2), ("security", "members", 3)])
    assert incident_notices(opened) == expected
    opened.refresh_from_db()
    assert opened.escalation_stage == 3

    count = Notification.objects.count()
    events = AuditEvent.objects.count()
    sweep(now=NOW + 5 * HOUR)
    sweep(now=NOW + 5 * HOUR)
    assert Notification.objects.count() == count
    assert AuditEvent.objects.count() == events
    stages = list(
        AuditEvent.objects.filter(action="incident.escalated", object_id=str(opened.pk))
        .order_by("seq")
        .values_list("changes__escalation_stage", flat=True)
    )
    assert stages == [[0, 1], [1, 2], [2, 3]]


def test_a_missed_sweep_tells_every_rung_it_passed(personas, opened):
    sweep(now=NOW + 6 * HOUR)
    assert incident_notices(opened) == [
        ("payments", "leads", 2),
        ("payments", "members", 1),
        ("security", "members", 3),
    ]


def test_contained_incidents_stop_climbing(personas, opened):
    services.incident_contain(actor=personas.lee, incident=opened, now=NOW + 20 * MINUTE)
    sweep(now=NOW + 5 * HOUR)
    assert incident_notices(opened) == [("payments", "members", 1)]
    opened.refresh_from_db()
    assert opened.escalation_stage == 1


def test_a_late_report_reaches_everyone_already_due(personas, path):
    incident = services.incident_open(
        actor=personas.pat, path=path, detected_at=NOW - 5 * HOUR, now=NOW
    )
    assert incident.escalation_stage == 3
    assert ("security", "members", 3) in incident_notices(incident)


def test_an_unowned_path_tells_the_steward_and_no_steward_means_security(
    personas, unowned_path, make_path
):
    stewarded = services.incident_open(actor=personas.dana, path=unowned_path, now=NOW)
    assert incident_notices(stewarded) == [("platform", "members", 1)]
    orphan = make_path(owner_team=None, justification="", ticket_url="")
    nobody = services.incident_open(actor=personas.sam, path=orphan, now=NOW)
    assert incident_notices(nobody) == [("security", "members", 1)]


def test_the_hours_are_configurable(personas, path, settings):
    settings.NHI_POLICY = {"incident_escalation_hours": (0, 0.25, 0.5)}
    incident = services.incident_open(actor=personas.pat, path=path, now=NOW)
    sweep(now=NOW + 16 * MINUTE)
    assert ("payments", "leads", 2) in incident_notices(incident)
    assert ("security", "members", 3) not in incident_notices(incident)


def test_one_batch_costs_the_same_for_one_or_many_incidents(personas, make_path):
    def queries(count: int) -> int:
        for i in range(count):
            p = make_path(name=f"leaky-{count}-{i}")
            services.incident_open(
                actor=personas.system, path=p, detected_at=NOW - 30 * MINUTE, now=NOW
            )
        policy = current_policy()
        with CaptureQueriesContext(connection) as captured:
            done = climb(now=NOW + 2 * HOUR, policy=policy, actor=Actor.system("test"))
        assert done["incidents_escalated_to_stage_2"] == count
        return len(captured.captured_queries)

    assert queries(1) == queries(12)


def test_the_notices_read_well(personas, opened):
    sweep(now=NOW + 4 * HOUR)
    texts = {
        n.stage: describe_notification(n)
        for n in Notification.objects.filter(reason="incident", path=opened.path)
    }
    assert texts[1].startswith(
        f"Leak incident #{opened.pk} (credential, detected 22 Nov 2026 12:00"
    )
    assert "mark the incident contained" in texts[1]
    assert f"/incidents/{opened.pk}/" in texts[1]
    assert "still open after 1 h: escalated to the team's leads" in texts[2]
    assert "still open after 4 h: escalated to security" in texts[3]


def test_a_dry_run_sweep_changes_nothing(personas, opened):
    before = Notification.objects.count()
    summary = sweep(now=NOW + 5 * HOUR, dry_run=True)
    assert summary["incidents_escalated_to_stage_3"] == 1
    assert Notification.objects.count() == before
    opened.refresh_from_db()
    assert opened.escalation_stage == 1
