"""Delivery leases with a fencing token, stable message ids and coalescing (issue 14).

A run stamps the rows it leases with its own token, renews the lease on a digest's rows
just before sending it, sends only rows it still holds and marks only rows still
carrying its token. Time is moved with `now=`: a second run "later than the lease" is
exactly what a run whose lease ran out would meet.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.core import mail
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from registry.models import Notification, Team
from registry.notifications.outbox import Notice, queue
from registry.rules.policies import (
    DELIVERY_LEASE_MARGIN_SECONDS,
    check_delivery_lease,
    current_policy,
    delivery_due_at,
)
from registry.services.delivery import DeliveryFailed, Digest, deliver
from tests.conftest import NOW
from tests.notifications.helpers import notice, queue_notices, rows, set_channels
from tests.support_http import Receiver
from tests.support_processes import ROOT
from workers import apps as worker_apps
from workers import tasks as worker_tasks
from workers.channels import send
from workers.channels.digest import REF_PREFIX, digest_ref

Status = Notification.Status
LOCMEM = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture
def locmem(settings) -> None:
    settings.EMAIL_BACKEND = LOCMEM
    settings.NHI_DELIVERY_COALESCE_SECONDS = 0


def lease() -> dt.timedelta:
    return dt.timedelta(seconds=current_policy().delivery_lease_seconds)


def two_teams_queued(personas, make_path) -> tuple[list[int], list[int]]:
    """One email row for payments and one for data: two digests, payments' first."""
    teams = personas.teams
    first = notice(teams.payments, make_path(name="billing-export"))
    second = notice(teams.data, make_path(name="warehouse-loader", owner_team=teams.data))
    assert queue_notices([first]) == 1
    assert queue_notices([second]) == 1
    payments = [n.pk for n in rows(team=teams.payments)]
    data = [n.pk for n in rows(team=teams.data)]
    return payments, data


# --- fencing ----------------------------------------------------------------------------


def test_a_run_whose_lease_ran_out_neither_sends_nor_marks_rows_taken_over(
    locmem, personas, make_path
):
    payments, data = two_teams_queued(personas, make_path)
    sent_by: dict[str, list[list[int]]] = {"A": [], "B": []}
    later = NOW + lease() + dt.timedelta(seconds=1)
    summaries: dict[str, dict[str, int]] = {}

    def send_b(digest: Digest) -> None:
        sent_by["B"].append([n.pk for n in digest.notifications])
        send(digest)

    def send_a(digest: Digest) -> None:
        sent_by["A"].append([n.pk for n in digest.notifications])
        send(digest)
        if len(sent_by["A"]) == 1:
            # While A's first send is still "in flight", time passes beyond A's lease
            # and another run takes every row over.
            summaries["B"] = deliver(send=send_b, now=later)

    summaries["A"] = deliver(send=send_a, now=NOW)

    assert summaries["B"] == {"digests": 2, "leased": 2, "sent": 2}
    # A sent what it held when it renewed (payments), could not mark it (B had it by
    # then), and did not send data's digest: B had taken those rows before A renewed.
    assert sent_by["A"] == [payments]
    assert sorted(sent_by["B"]) == sorted([payments, data])
    assert summaries["A"] == {"digests": 1, "fenced": 1, "leased": 2, "taken_over": 1}
    for row in rows():
        assert (row.status, row.sent_at, row.lease_token) == (Status.SENT, later, None)
        assert row.attempts == 2  # leased by A, then by B


def test_a_renewed_lease_keeps_its_rows_from_other_runs(locmem, personas, make_path):
    """With the wall clock (no `now=`), the lease on each digest is renewed just before
    its send: a run starting after the first lease would have ended finds nothing."""
    _, data = two_teams_queued(personas, make_path)
    Notification.objects.update(next_attempt_at=NOW)  # due now in wall-clock terms too
    first_leases: dict[int, dt.datetime] = {}
    others: list[dict[str, int]] = []

    def send_slowly(digest: Digest) -> None:
        ids = [n.pk for n in digest.notifications]
        if not first_leases:
            first_leases.update(
                Notification.objects.filter(pk__in=data).values_list("id", "next_attempt_at")
            )
            time.sleep(0.3)  # the first send takes a moment: digest 2's renewal is later
            return
        renewed = dict(Notification.objects.filter(pk__in=ids).values_list("id", "next_attempt_at"))
        for pk in ids:
            assert renewed[pk] > first_leases[pk], "the lease was not renewed before the send"
        # Another run just after the first lease would have run out: nothing for it.
        others.append(deliver(send=send, now=first_leases[ids[0]] + dt.timedelta(seconds=0.1)))

    summary = deliver(send=send_slowly)

    assert summary == {"digests": 2, "leased": 2, "sent": 2}
    assert others == [{"leased": 0}]
    assert {row.status for row in rows()} == {Status.SENT}


def test_a_failure_is_recorded_only_on_rows_the_run_still_holds(locmem, personas, make_path):
    two_teams_queued(personas, make_path)
    later = NOW + lease() + dt.timedelta(seconds=1)

    def fail_after_takeover(digest: Digest) -> None:
        deliver(send=send, now=later)  # B takes both and sends them
        raise DeliveryFailed("SMTP: 451 try again later")

    summary = deliver(send=fail_after_takeover, now=NOW, limit=1)

    assert summary == {"leased": 1}  # the failure touched nothing B held
    assert {(row.status, row.last_error) for row in rows()} == {(Status.SENT, "")}


def test_the_deadline_check_refuses_a_lease_shorter_than_the_longest_send():
    check_delivery_lease(lease_seconds=35, smtp_total_seconds=30, outbound_total_seconds=5)
    with pytest.raises(ImproperlyConfigured) as refused:
        check_delivery_lease(lease_seconds=34, smtp_total_seconds=30, outbound_total_seconds=5)
    message = str(refused.value)
    assert "delivery_lease_seconds (34)" in message
    assert "NHI_SMTP_TOTAL_SECONDS=30" in message and "NHI_OUTBOUND_TOTAL_SECONDS=5" in message
    assert f"at least {30 + DELIVERY_LEASE_MARGIN_SECONDS}" in message


def test_start_up_refuses_a_lease_shorter_than_the_longest_send():
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "NHI_DELIVERY_LEASE_SECONDS": "20",
        "NHI_SMTP_TOTAL_SECONDS": "30",
    }
    # This interpreter importing the settings (no shell, fixed argv).
    started = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert started.returncode != 0
    assert "ImproperlyConfigured: delivery_lease_seconds (20)" in started.stderr
    assert "NHI_SMTP_TOTAL_SECONDS=30" in started.stderr


# --- the soft time limit ----------------------------------------------------------------


def three_digests(personas, make_path) -> None:
    teams = personas.teams
    for team in (teams.payments, teams.data, teams.growth):
        queue_notices([notice(team, make_path(name=f"job-{team.slug}", owner_team=team))])


def test_an_interrupted_run_releases_what_it_did_not_start(locmem, personas, make_path):
    three_digests(personas, make_path)
    calls: list[str] = []

    def interrupted_on_second(digest: Digest) -> None:
        calls.append(digest.team.slug)
        if len(calls) == 2:
            raise SoftTimeLimitExceeded()  # what Celery raises at the soft limit
        send(digest)

    with pytest.raises(SoftTimeLimitExceeded):
        deliver(send=interrupted_on_second, now=NOW, interrupts=(SoftTimeLimitExceeded,))

    first, second, third = (rows(team__slug=slug)[0] for slug in [*calls, "growth"])
    assert calls == ["payments", "data"]
    assert first.status == Status.SENT
    # Interrupted mid-send: it keeps its lease, like a worker that died.
    assert (second.status, second.attempts, second.next_attempt_at) == (
        Status.PENDING,
        1,
        NOW + lease(),
    )
    # Never started: released, due at once, the attempt not counted.
    assert (third.status, third.attempts, third.next_attempt_at, third.lease_token) == (
        Status.PENDING,
        0,
        NOW,
        None,
    )


def test_the_delivery_task_ends_cleanly_at_its_soft_limit(locmem, personas, make_path, monkeypatch):
    three_digests(personas, make_path)

    def soft_limit_reached(digest: Digest) -> None:
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr(worker_tasks, "send", soft_limit_reached)
    assert worker_tasks.deliver_task() == {"interrupted": 1}
    statuses = sorted((r.attempts, r.lease_token is None) for r in rows())
    assert statuses == [(0, True), (0, True), (1, False)]  # two released, one leased


def test_a_run_near_its_time_limit_takes_no_new_digest(locmem, personas, make_path, settings):
    """The budget is the soft limit less the longest send and a margin: a limit that
    leaves no room for one more send stops the run before its first digest."""
    three_digests(personas, make_path)
    limit = settings.NHI_SMTP_TOTAL_SECONDS + 5  # under the send plus the 10 s margin
    assert deliver(send=send, now=NOW, time_limit=limit) == {"leased": 3, "released": 3}
    assert [(r.status, r.attempts, r.next_attempt_at) for r in rows()] == [
        (Status.PENDING, 0, NOW)
    ] * 3
    assert deliver(send=send, now=NOW, time_limit=3600) == {"digests": 3, "leased": 3, "sent": 3}


# --- stable ids -------------------------------------------------------------------------


def test_a_resent_digest_carries_the_same_message_id(locmem, personas, make_path):
    team = personas.teams.payments
    queue_notices([notice(team, make_path(name=f"billing-export-{i}")) for i in range(2)])

    def accepted_but_answer_lost(digest: Digest) -> None:
        send(digest)  # the server has it...
        raise DeliveryFailed("SMTP: no answer within 30 s")  # ...but we never heard

    assert deliver(send=accepted_but_answer_lost, now=NOW) == {"leased": 2, "retrying": 2}
    retry_at = rows()[0].next_attempt_at
    assert deliver(send=send, now=retry_at) == {"digests": 1, "leased": 2, "sent": 2}

    first, second = mail.outbox
    ids = ",".join(str(n.pk) for n in rows())
    for message in (first, second):
        assert message.extra_headers["X-NHI-Notification-Ids"] == ids
    assert first.extra_headers["Message-ID"] == second.extra_headers["Message-ID"]
    assert first.message()["Message-ID"].startswith(f"<{REF_PREFIX}")
    assert first.message()["Message-ID"].endswith("@localhost>")  # DEFAULT_FROM_EMAIL's

    # A digest of other notifications has another id.
    queue_notices([notice(team, make_path(name="ledger-sync"), reason="expiry_reminder")])
    deliver(send=send, now=retry_at)
    assert mail.outbox[2].extra_headers["Message-ID"] != first.extra_headers["Message-ID"]


@pytest.fixture
def receiver(settings) -> Iterator[Receiver]:
    settings.NHI_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    server = Receiver()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_chat_messages_carry_the_digest_ref(locmem, receiver, personas, make_path):
    team = set_channels(
        personas,
        personas.teams.payments,
        slack_webhook_url=receiver.url("/slack/hook"),
        teams_webhook_url=receiver.url("/teams/hook"),
    )
    queue_notices([notice(team, make_path())])
    assert deliver(send=send, now=NOW)["sent"] == 3
    chat_rows = rows(channel="slack")
    expected = digest_ref(Digest(team, "members", "slack", chat_rows))
    assert expected.startswith(REF_PREFIX) and len(expected) == len(REF_PREFIX) + 32
    (slack,) = receiver.to("/slack/")
    (teams,) = receiver.to("/teams/")
    assert slack.json()["text"].splitlines()[-1] == f"ref {expected}"
    assert teams.json()["text"].startswith("ref nhi-digest-")
    for request in (slack, teams):
        assert request.headers["X-NHI-Message-Id"] == request.headers["Idempotency-Key"]
        assert request.headers["Idempotency-Key"].startswith(REF_PREFIX)
    assert slack.headers["Idempotency-Key"] == expected


# --- coalescing -------------------------------------------------------------------------


def test_a_burst_of_notices_to_one_team_becomes_one_email(
    settings, personas, make_path, monkeypatch, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = LOCMEM
    settings.NHI_DELIVERY_COALESCE_SECONDS = 60
    kicks: list[dict] = []
    # The broker is the edge here: record what the kick asks of it.
    monkeypatch.setattr(worker_tasks.deliver_task, "apply_async", lambda **kw: kicks.append(kw))
    monkeypatch.setitem(worker_apps._kicked, "at", None)
    team = personas.teams.payments
    paths = [make_path(name=f"billing-export-{i:02}") for i in range(50)]
    slot_end = NOW + dt.timedelta(seconds=60)  # NOW is on a minute

    for i, path in enumerate(paths):  # one write (and one commit) per notice
        with django_capture_on_commit_callbacks(execute=True):
            queued_at = NOW + dt.timedelta(seconds=i)
            assert queue_notices_at([notice(team, path)], queued_at) == 1

    assert {row.next_attempt_at for row in rows()} == {slot_end}
    assert len(kicks) == 1, "one run asked for per slot, not one per write"
    assert deliver(send=send, now=slot_end - dt.timedelta(seconds=1)) == {"leased": 0}
    assert deliver(send=send, now=slot_end) == {"digests": 1, "leased": 50, "sent": 50}
    (digest,) = mail.outbox
    assert digest.subject.startswith("[NHI Registry] 50 access paths need attention")


def queue_notices_at(notices: list[Notice], queued_at: dt.datetime) -> int:
    teams = {t.pk: t for t in Team.objects.filter(pk__in={n.team_id for n in notices})}
    with transaction.atomic():
        return queue(notices, teams=teams, now=queued_at)


def test_due_times_coalesce_people_and_never_hold_events():
    queued = NOW + dt.timedelta(seconds=59, microseconds=999_999)
    assert delivery_due_at(channel="email", queued_at=queued, coalesce_seconds=60) == (
        NOW + dt.timedelta(seconds=60)
    )
    assert delivery_due_at(channel="slack", queued_at=NOW, coalesce_seconds=60) == (
        NOW + dt.timedelta(seconds=60)
    )
    assert delivery_due_at(channel="webhook", queued_at=queued, coalesce_seconds=60) == queued
    assert delivery_due_at(channel="email", queued_at=queued, coalesce_seconds=0) == queued
