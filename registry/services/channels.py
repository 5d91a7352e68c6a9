"""Checking a team's notification channel with a test message, sent by a worker."""

from __future__ import annotations

import datetime as dt
import uuid

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.dispatch import Signal
from django.utils.module_loading import import_string

from registry.audit import audit_record
from registry.models import AccessPath, Notification, Team
from registry.notifications.outbox import recipients_emails
from registry.rules import errors, permissions
from registry.rules.actors import Actor
from registry.rules.errors import Invalid, NotAllowed, ServiceError
from registry.runtime.progress import channel_test_state, set_channel_test_state
from registry.services._common import refuse_if, resolve_now
from registry.services.delivery import DeliveryFailed, Digest

Channel = Notification.Channel
TEST_REASON = Notification.Reason.CHANNEL_TEST
PENDING, ACCEPTED, FAILED = "pending", "accepted", "failed"

# Sent after a test-send was queued (workers subscribe and run it).
channel_test_queued = Signal()


def channel_configured(team: Team, channel: str) -> bool:
    match channel:
        case Channel.EMAIL:
            return bool(recipients_emails(team, Notification.Audience.MEMBERS))
        case Channel.SLACK:
            return bool(team.slack_webhook_url)
        case Channel.TEAMS:
            return bool(team.teams_webhook_url)
        case Channel.WEBHOOK:
            return bool(team.event_webhook_url and team.event_webhook_secret)
    return False


def _check_test(actor: Actor, team: Team, channel: str) -> None:
    refuse_if(permissions.refuse_team_manage(actor, team))
    if channel not in Channel.values:
        raise Invalid.single("channel", f"Choose one of: {', '.join(Channel.values)}.")
    if not channel_configured(team, channel):
        label = Channel(channel).label
        raise Invalid.single("channel", errors.CHANNEL_NOT_CONFIGURED.format(channel=label))


def team_channel_test_queue(
    *, actor: Actor, team: Team, channel: str, now: dt.datetime | None = None
) -> str:
    """Check a test-send may happen and hand it to a worker (the page never waits on a
    channel: a slow one would hold a web worker). Returns the test's id; the page
    polls `channel_test_state` until the worker has recorded the outcome."""
    resolve_now(now)
    _check_test(actor, team, channel)
    if actor.user is None:  # the worker acts as the person who asked
        raise NotAllowed(errors.HUMAN_REQUIRED)
    test_id = uuid.uuid4().hex
    set_channel_test_state(
        test_id,
        {"team": team.pk, "channel": channel, "user": actor.user.pk, "state": PENDING},
    )
    transaction.on_commit(lambda: channel_test_queued.send(sender=Team, test_id=test_id))
    return test_id


def team_channel_test_run(*, test_id: str) -> dict | None:
    """The worker's half: send the queued test (team_channel_test: sent and audited)
    and record how it went for the page. None when it is unknown or already done."""
    state = channel_test_state(test_id)
    if state is None or state["state"] != PENDING:
        return None
    team = Team.objects.get(pk=state["team"])
    actor = Actor.for_user(get_user_model().objects.get(pk=state["user"]))
    try:
        team_channel_test(actor=actor, team=team, channel=state["channel"])
        outcome = {**state, "state": ACCEPTED}
    except ServiceError as exc:
        outcome = {**state, "state": FAILED, "message": exc.message}
    set_channel_test_state(test_id, outcome)
    return outcome


def _test_digest(team: Team, channel: str, now: dt.datetime) -> Digest:
    """A one-item digest about no real path: nothing is queued or stored."""
    sample = AccessPath(
        id=uuid.uuid4(), name="Test message", system="nhi-registry", environment="other"
    )
    message_id = f"msg_nhi_test_{uuid.uuid4().hex}"
    notification = Notification(
        team=team,
        audience=Notification.Audience.MEMBERS,
        channel=channel,
        path=sample,
        reason=TEST_REASON,
        payload={"occurred_at": now.isoformat(), "message_id": message_id, "path": {}},
        cycle=now,
        next_attempt_at=now,
        created_at=now,
    )
    return Digest(team, Notification.Audience.MEMBERS, channel, [notification])


def team_channel_test(
    *, actor: Actor, team: Team, channel: str, now: dt.datetime | None = None
) -> None:
    """Send a test message on one of the team's channels and record the outcome.

    The send happens outside any transaction (a slow webhook must not hold locks); the
    outcome is audited either way. Raises Invalid when the channel refused it."""
    now = resolve_now(now)
    _check_test(actor, team, channel)
    send = import_string(settings.NHI_CHANNEL_SENDER)
    failure = ""
    try:
        send(_test_digest(team, channel, now))
    except DeliveryFailed as exc:
        failure = exc.message
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="team.channel_tested",
            obj=team,
            now=now,
            changes={"channel": [None, channel], "accepted": [None, not failure]},
            reason=failure,
        )
    if failure:
        raise Invalid.single("channel", errors.CHANNEL_TEST_FAILED.format(error=failure))
