"""The reminder and escalation engine, with time moved by passing `now`."""

import datetime as dt
import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from registry import services
from registry.audit import verify_chain
from registry.models import AccessPath, AuditEvent, Notification
from registry.selectors import path_get, reminder_preview
from registry.services.sweep import sweep
from tests.conftest import NOW

pytestmark = pytest.mark.django_db
DAY = dt.timedelta(days=1)
MINUTE = dt.timedelta(minutes=1)


def rows(**filters):
    return list(
        Notification.objects.filter(**filters)
        .order_by("id")
        .values_list("team__slug", "audience", "reason", "stage")
    )


def keep(personas, path, at):
    return services.path_attest(
        actor=personas.pat, path=path, decision="keep", still_needed=True,
        justification_accurate=True, least_privilege=True, no_human_use=True, now=at,
    )  # fmt: skip


def test_one_path_walks_the_whole_ladder_one_notification_per_step(personas, make_path):
    path = make_path()
    due = path.next_review_at
    steps = [
        (due - 15 * DAY, []),
        (due - 14 * DAY, [("payments", "members", "review_reminder", 14)]),
        (due - 13 * DAY, []),
        (due - 7 * DAY, [("payments", "members", "review_reminder", 7)]),
        (due - 1 * DAY, [("payments", "members", "review_reminder", 1)]),
        (due - MINUTE, []),
        (due, [("payments", "members", "review_overdue", 1)]),
        (due + 3 * DAY - MINUTE, []),
        (due + 3 * DAY, [("payments", "leads", "review_overdue", 2)]),
        (due + 7 * DAY, [("security", "members", "review_overdue", 3)]),
        (due + 14 * DAY - MINUTE, []),
        (
            due + 14 * DAY,
            [("security", "members", "lapsed", 4), ("payments", "members", "lapsed", 4)],
        ),
        (due + 30 * DAY, []),
    ]
    seen = 0
    for at, expected in steps:
        sweep(now=at)
        sweep(now=at)  # a second run at the same moment adds nothing
        new = rows(path=path)[seen:]
        assert new == expected, at
        seen += len(new)
    path.refresh_from_db()
    assert path.escalation_stage == 4
    actions = list(
        AuditEvent.objects.filter(path=path, action__startswith="access_path.")
        .order_by("seq")
        .values_list("action", flat=True)
    )
    assert actions == ["access_path.registered"] + ["access_path.escalated"] * 3 + [
        "access_path.lapsed"
    ]
    assert path_get(actor=personas.sam, path_id=path.pk, now=due + 14 * DAY).status == "lapsed"
    assert verify_chain().intact


def test_attesting_starts_a_new_cycle_and_the_old_one_never_fires(personas, make_path):
    path = make_path()
    due = path.next_review_at
    sweep(now=due + 4 * DAY)  # stage 2 reached
    path.refresh_from_db()
    assert path.escalation_stage == 2
    attested_at = due + 5 * DAY
    keep(personas, path, attested_at)
    path.refresh_from_db()
    assert path.escalation_stage == 0
    assert path.next_review_at == attested_at + 90 * DAY
    before = Notification.objects.count()
    for at in (due + 8 * DAY, due + 15 * DAY, due + 40 * DAY):
        sweep(now=at)  # the old cycle is over: nothing more about it
    assert Notification.objects.count() == before
    new_due = path.next_review_at
    sweep(now=new_due - 7 * DAY)
    assert rows(path=path, cycle=new_due) == [("payments", "members", "review_reminder", 7)]


def test_a_missed_sweep_jumps_to_the_stage_reached_with_one_notice(make_path):
    path = make_path()
    summary = sweep(now=path.next_review_at + 8 * DAY)
    assert rows(path=path) == [("security", "members", "review_overdue", 3)]
    assert summary["escalated_to_stage_3"] == 1
    path.refresh_from_db()
    assert path.escalation_stage == 3


def test_late_first_reminder_sends_only_the_nearest(make_path):
    path = make_path()
    sweep(now=path.next_review_at - 5 * DAY)
    assert rows(path=path) == [("payments", "members", "review_reminder", 7)]


def test_expiry_reminders_then_expiry_with_event(personas, make_path):
    services.team_update(
        actor=personas.system,
        team=personas.teams.payments,
        changes={"event_webhook_url": "https://hooks.example.com/nhi"},
        now=NOW,
    )
    path = make_path(expires_at=NOW + 60 * DAY, risk_tier="low")
    expires = path.expires_at
    sweep(now=expires - 14 * DAY)
    sweep(now=expires - 7 * DAY)
    sweep(now=expires - DAY)
    assert rows(path=path, reason="expiry_reminder") == [
        ("payments", "members", "expiry_reminder", 14),
        ("payments", "members", "expiry_reminder", 7),
        ("payments", "members", "expiry_reminder", 1),
    ]
    summary = sweep(now=expires)
    assert summary["expired"] == 1
    path.refresh_from_db()
    assert path.state == AccessPath.State.EXPIRED
    assert rows(path=path, reason="expired") == [("payments", "members", "expired", 0)]
    event = Notification.objects.get(path=path, reason="access_path.expired")
    assert (event.channel, event.team.slug) == ("webhook", "payments")
    assert AuditEvent.objects.filter(path=path, action="access_path.expired").count() == 1
    assert sweep(now=expires + DAY).get("expired", 0) == 0


def test_offboarded_team_lapses_at_once(personas, make_path):
    path = make_path(steward_team=personas.teams.platform)
    services.team_deactivate(
        actor=personas.sam, team=personas.teams.payments, reason="Team dissolved.", now=NOW
    )
    summary = sweep(now=NOW + MINUTE)
    assert summary["lapsed"] == 1
    assert sorted(rows(path=path)) == [
        ("platform", "members", "owner_unaccountable", 4),
        ("security", "members", "owner_unaccountable", 4),
    ]
    path.refresh_from_db()
    assert path.escalation_stage == 4
    assert AuditEvent.objects.filter(path=path, action="access_path.lapsed").exists()
    assert sweep(now=NOW + DAY).get("lapsed", 0) == 0


def test_team_emptied_of_members_lapses_too(personas, make_path):
    path = make_path()
    for membership in personas.teams.payments.memberships.filter(ended_at__isnull=True):
        services.membership_end(
            actor=personas.sam, membership=membership, reason="Left the company.", now=NOW
        )
    sweep(now=NOW + MINUTE)
    assert rows(path=path) == [("security", "members", "owner_unaccountable", 4)]


def test_unowned_path_told_then_escalated_after_seven_days(personas, unowned_path):
    sweep(now=NOW + MINUTE)
    assert sorted(rows(path=unowned_path)) == [
        ("platform", "members", "unowned", 0),
        ("security", "members", "unowned", 0),
    ]
    sweep(now=NOW + 7 * DAY - MINUTE)
    assert len(rows(path=unowned_path)) == 2
    sweep(now=NOW + 7 * DAY)
    assert sorted(rows(path=unowned_path, stage=1)) == [
        ("platform", "members", "unclaimed", 1),
        ("security", "members", "unclaimed", 1),
    ]


def test_claim_and_transfer_notify_then_remind_when_left_waiting(personas, make_path):
    unowned = make_path(owner_team=None, justification="", ticket_url="")
    services.path_claim(
        actor=personas.pat, path=unowned, team=personas.teams.payments,
        reason="Our nightly payout batch runs under this account.", now=NOW,
    )  # fmt: skip
    owned = make_path()
    services.path_transfer(
        actor=personas.lee, path=owned, to_team=personas.teams.data,
        reason="The data team now runs the export.", now=NOW,
    )  # fmt: skip
    assert rows(path=unowned) == [("security", "members", "claim_requested", 0)]
    assert rows(path=owned) == [("data", "members", "transfer_requested", 0)]
    sweep(now=NOW + 3 * DAY - MINUTE)
    assert not rows(reason="claim_waiting")
    sweep(now=NOW + 3 * DAY)
    assert rows(reason="claim_waiting") == [("security", "members", "claim_waiting", 0)]
    assert not rows(reason="transfer_waiting")
    sweep(now=NOW + 7 * DAY)
    assert rows(reason="transfer_waiting") == [("data", "members", "transfer_waiting", 0)]


def test_dry_run_counts_the_same_and_changes_nothing(personas, make_path, unowned_path):
    paths = [make_path() for _ in range(3)]
    at = paths[0].next_review_at + 8 * DAY
    before = (Notification.objects.count(), AuditEvent.objects.count())
    dry = sweep(now=at, dry_run=True)
    assert (Notification.objects.count(), AuditEvent.objects.count()) == before
    assert {
        p.escalation_stage for p in AccessPath.objects.filter(pk__in=[p.pk for p in paths])
    } == {0}
    real = sweep(now=at)
    assert {k: v for k, v in dry.items() if k != "dry_run"} == {
        k: v for k, v in real.items() if k != "dry_run"
    }
    assert real["escalated_to_stage_3"] == 3


def test_sweep_command_prints_a_json_summary(make_path):
    make_path(expires_at=NOW + 2 * DAY)
    out = StringIO()
    call_command("sweep", "--dry-run", stdout=out)
    summary = json.loads(out.getvalue())
    assert summary["dry_run"] == 1


def test_reminder_preview_lists_the_next_thirty_days(personas, make_path):
    path = make_path()  # review due NOW + 90 days
    assert reminder_preview(team=personas.teams.payments, now=NOW) == []
    soon = path.next_review_at - 20 * DAY
    preview = reminder_preview(team=personas.teams.payments, now=soon)
    due = path.next_review_at.strftime("%-d %b %Y")
    assert [(item.what, item.recipient_name) for item in preview] == [
        (f"Review due in 14 days ({due}): attest it.", "Payments"),
        (f"Review due in 7 days ({due}): attest it.", "Payments"),
        (f"Review due tomorrow ({due}): attest it.", "Payments"),
        (f"Review overdue since {due}; the owning team was told.", "Payments"),
        (f"Review overdue since {due}; escalated to the team's leads.", "Payments (leads)"),
        (f"Review overdue since {due}; escalated to security.", "Security"),
    ]
    assert reminder_preview(team=personas.teams.data, now=soon) == []


def test_path_page_shows_notifications_and_escalation(client, personas, make_path):
    path = make_path()
    sweep(now=path.next_review_at + 3 * DAY)
    client.force_login(personas.users.pat)
    html = client.get(reverse("registry:path-detail", args=[path.pk])).content.decode()
    assert "escalated to the team&#x27;s leads" in html
    assert "Review overdue since" in html
    client.force_login(personas.users.otto)
    assert client.get(reverse("registry:path-detail", args=[path.pk])).status_code == 404
    assert client.get(reverse("registry:path-detail", args=["not-a-uuid"])).status_code == 404


def test_team_reminders_page_is_for_members_and_security(client, personas, make_path):
    make_path()
    url = reverse("registry:team-reminders", args=["payments"])
    client.force_login(personas.users.pat)
    assert client.get(url).status_code == 200
    client.force_login(personas.users.sam)
    assert client.get(url).status_code == 200
    client.force_login(personas.users.dana)
    assert client.get(url).status_code == 404
