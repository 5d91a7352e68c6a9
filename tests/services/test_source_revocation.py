"""Downstream revocation you can verify: confirming "disabled at the source" (service,
API, page), the status until then, security's queue after 24 hours, and full syncs that
still list a retired credential."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from registry import services
from registry.importers.base import ImportRow
from registry.models import AccessPath, AuditEvent, ImportRun, Notification
from registry.rules import errors
from registry.rules.actors import Actor
from registry.rules.errors import Invalid, InvalidTransition, NotAllowed, StaleVersion
from registry.rules.policies import current_policy
from registry.rules.status import Status, status_of
from registry.selectors import path_get, path_list
from registry.selectors.source_queue import source_queue
from registry.services.sweep import sweep
from tests.conftest import NOW

HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
CONFIRMED = "access_path.source_disabled"


@pytest.fixture
def revoked(make_path, personas) -> AccessPath:
    path = make_path(risk_tier="medium", steward_team=personas.teams.platform)
    return services.path_revoke(
        actor=personas.lee, path=path, reason="The export job was retired.", now=NOW
    )


def status_at(personas, path: AccessPath, now: dt.datetime) -> str:
    found = path_get(actor=personas.sam, path_id=path.pk, now=now)
    matching = [
        s
        for s in Status.values
        if path_list(actor=personas.sam, filters={"status": [s]}, now=now)
        .filter(pk=path.pk)
        .exists()
    ]
    assert matching == [found.status]
    assert status_of(found, now=now, policy=current_policy(), accountable=True) == found.status
    return found.status


# --- the service ------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["pat", "lee", "sam", "payments_ci", "steward", "revoker"])
def test_the_teams_that_answer_for_it_and_security_may_confirm(personas, revoked, who):
    actors = {
        "steward": lambda: Actor.integration(personas.teams.platform, token_id="t1", name="ci"),
        "revoker": lambda: Actor.for_user(personas.users.gwen),
    }
    if who == "revoker":
        revoked.revoker_teams.add(personas.teams.growth)
    actor = actors[who]() if who in actors else getattr(personas, who)

    path = services.path_confirm_source_disabled(
        actor=actor, path=revoked, note="Key deleted in IAM.", now=NOW + HOUR
    )

    assert (path.source_disabled_at, path.source_disabled_by) == (NOW + HOUR, actor.label)
    (event,) = AuditEvent.objects.filter(action=CONFIRMED)
    assert event.path_id == revoked.pk and event.reason == "Key deleted in IAM."
    assert event.changes["source_disabled_at"][0] is None


@pytest.mark.parametrize(
    ("who", "message"), [("dana", errors.NOT_A_REVOKER), ("otto", errors.OUTSIDER)]
)
def test_others_may_not_confirm(personas, revoked, who, message):
    with pytest.raises(NotAllowed) as refused:
        services.path_confirm_source_disabled(actor=getattr(personas, who), path=revoked)
    assert refused.value.message == message
    assert not AuditEvent.objects.filter(action=CONFIRMED).exists()


def test_a_live_path_cannot_be_confirmed(personas, make_path):
    path = make_path(risk_tier="medium")
    with pytest.raises(InvalidTransition) as refused:
        services.path_confirm_source_disabled(actor=personas.pat, path=path, now=NOW)
    assert refused.value.message == errors.SOURCE_PATH_LIVE.format(state="active")


def test_expired_by_date_before_the_sweep_can_be_confirmed(personas, make_path):
    path = make_path(risk_tier="medium", expires_at=NOW + DAY)
    assert status_at(personas, path, NOW + 2 * DAY) == Status.AWAITING_SOURCE
    services.path_confirm_source_disabled(actor=personas.pat, path=path, now=NOW + 2 * DAY)
    assert status_at(personas, path, NOW + 2 * DAY) == Status.EXPIRED
    services.path_expire(actor=personas.system, path=path, now=NOW + 3 * DAY)
    assert status_at(personas, path, NOW + 3 * DAY) == Status.EXPIRED


def test_a_second_confirmation_is_refused(personas, revoked):
    services.path_confirm_source_disabled(actor=personas.pat, path=revoked, now=NOW + HOUR)
    with pytest.raises(InvalidTransition) as refused:
        services.path_confirm_source_disabled(actor=personas.lee, path=revoked, now=NOW + DAY)
    assert refused.value.message == errors.SOURCE_ALREADY_CONFIRMED.format(
        by=personas.pat.label, at=NOW + HOUR
    )
    assert AuditEvent.objects.filter(action=CONFIRMED).count() == 1


def test_a_stale_version_or_a_secret_in_the_note_changes_nothing(personas, revoked):
    with pytest.raises(StaleVersion):
        services.path_confirm_source_disabled(
            actor=personas.pat, path=revoked, expected_version=revoked.version - 1
        )
    with pytest.raises(Invalid) as refused:
        services.path_confirm_source_disabled(
            actor=personas.pat, path=revoked, note="deleted AKIAIOSFODNN7EXAMPLE / " + "x" * 40
        )
    assert refused.value.field == "note"
    revoked.refresh_from_db()
    assert revoked.source_disabled_at is None


# --- status -----------------------------------------------------------------------------


def test_revoked_awaits_the_source_until_confirmed(personas, revoked):
    assert status_at(personas, revoked, NOW) == Status.AWAITING_SOURCE
    assert status_at(personas, revoked, NOW + 400 * DAY) == Status.AWAITING_SOURCE
    services.path_confirm_source_disabled(actor=personas.pat, path=revoked, now=NOW + DAY)
    assert status_at(personas, revoked, NOW + DAY) == Status.REVOKED
    assert Status.AWAITING_SOURCE.label == "Revoked here, not yet confirmed at the source"


# --- the API ----------------------------------------------------------------------------


def api(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def source_url(path: AccessPath) -> str:
    return reverse("access-path-source-disabled", args=[path.pk])


def test_api_confirms_once_and_answers_the_path(personas, revoked, django_assert_max_num_queries):
    client = api(personas.users.pat)
    with django_assert_max_num_queries(30):
        response = client.post(source_url(revoked), {"note": "Key deleted."}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["source_disabled_by"] == "pat"
    assert body["source_disabled_at"] is not None
    assert body["status"] == Status.REVOKED
    assert response.headers["ETag"] == f'W/"{body["version"]}"'

    again = client.post(source_url(revoked), {}, format="json")
    assert again.status_code == 409


def test_api_hides_the_path_from_outsiders_and_refuses_live_paths(personas, revoked, make_path):
    assert api(personas.users.otto).post(source_url(revoked), {}).status_code == 404
    assert api(personas.users.dana).post(source_url(revoked), {}).status_code == 404
    assert APIClient().post(source_url(revoked), {}).status_code in (401, 403)
    malformed = "/api/v1/access-paths/nope/source-disabled/"
    assert api(personas.users.pat).post(malformed).status_code == 404
    live = make_path(risk_tier="medium")
    assert api(personas.users.pat).post(source_url(live), {}).status_code == 409
    stale = api(personas.users.pat).post(source_url(revoked), {}, HTTP_IF_MATCH='W/"1"')
    assert stale.status_code == 412


def test_an_integration_token_confirms_with_the_write_scope(personas, revoked):
    _, secret = services.token_create(
        actor=personas.system, name="revoker", scopes=["read", "write"],
        team=personas.teams.payments,
    )  # fmt: skip
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert client.post(source_url(revoked), {}, format="json").status_code == 200
    revoked.refresh_from_db()
    assert revoked.source_disabled_by == "token revoker (payments)"


# --- the page ---------------------------------------------------------------------------


def test_the_page_offers_the_button_and_records_the_confirmation(client, personas, revoked):
    client.force_login(personas.users.pat)
    page = client.get(reverse("registry:path-detail", args=[revoked.pk]))
    assert b"Confirm disabled at the source" in page.content
    assert b"Revoked here, not yet confirmed at the source" in page.content

    url = reverse("registry:path-source-disabled", args=[revoked.pk])
    response = client.post(url, {"version": revoked.version, "note": "Deleted in IAM."})
    assert response.status_code == 302
    page = client.get(reverse("registry:path-detail", args=[revoked.pk]))
    assert b"Disabled at the source: confirmed by" in page.content
    assert b"Confirm disabled at the source" not in page.content

    again = client.post(url, {"version": revoked.version + 1})
    assert again.status_code == 409


def test_the_page_refuses_outsiders_and_live_paths(client, personas, revoked, make_path):
    url = reverse("registry:path-source-disabled", args=[revoked.pk])
    client.force_login(personas.users.otto)
    assert client.post(url, {"version": revoked.version}).status_code == 404
    client.force_login(personas.users.pat)
    live = make_path(risk_tier="medium")
    page = client.get(reverse("registry:path-detail", args=[live.pk]))
    assert b"At the source" not in page.content
    refused = client.post(
        reverse("registry:path-source-disabled", args=[live.pk]), {"version": live.version}
    )
    assert refused.status_code == 409


# --- security's queue after 24 hours ----------------------------------------------------


def test_unconfirmed_after_24_hours_enters_the_queue_and_security_is_told_once(
    personas, revoked, client, django_assert_max_num_queries
):
    policy = current_policy()
    assert source_queue(now=NOW + 23 * HOUR, policy=policy).unconfirmed_count == 0
    with django_assert_max_num_queries(4):
        queue = source_queue(now=NOW + 25 * HOUR, policy=policy)
    assert [p.pk for p in queue.unconfirmed] == [revoked.pk] and queue.unconfirmed_count == 1

    sweep(now=NOW + 23 * HOUR)
    assert not Notification.objects.filter(reason=Notification.Reason.SOURCE_UNCONFIRMED).exists()
    sweep(now=NOW + 25 * HOUR)
    told = Notification.objects.filter(reason=Notification.Reason.SOURCE_UNCONFIRMED)
    assert {n.team.slug for n in told} == {"security"} and told.count() == 1
    assert told.get().cycle == revoked.state_changed_at
    sweep(now=NOW + 3 * DAY)
    assert told.count() == 1

    client.force_login(personas.users.sam)
    page = client.get(reverse("registry:queue-security"))
    assert b"Not confirmed disabled at the source (1)" in page.content
    services.path_confirm_source_disabled(actor=personas.sam, path=revoked, now=NOW + 3 * DAY)
    assert source_queue(now=NOW + 3 * DAY, policy=policy).unconfirmed_count == 0


# --- full syncs that still list a retired credential -----------------------------------


def row(external_id: str) -> ImportRow:
    return ImportRow(
        line=2,
        data={
            "name": external_id,
            "kind": "service_account",
            "system": "k8s",
            "external_id": external_id,
            "environment": "prod",
        },
    )


def full_sync(personas, *ids: str, now: dt.datetime, full: bool = True) -> ImportRun:
    report = services.paths_import(
        actor=personas.system, rows=[row(i) for i in ids], source_format="k8s_serviceaccounts",
        system="k8s", full_sync=full, now=now,
    )  # fmt: skip
    return report.run


def test_a_full_sync_still_listing_a_retired_credential_flags_it_once(personas, client):
    full_sync(personas, "ns/legacy-ci", "ns/deployer", now=NOW)
    legacy = AccessPath.objects.get(external_id="ns/legacy-ci")
    services.path_revoke(actor=personas.sam, path=legacy, reason="Replaced by OIDC.", now=NOW)

    not_full = full_sync(personas, "ns/legacy-ci", now=NOW + HOUR, full=False)
    assert not_full.counts["listed_but_retired"] == 1 and not_full.still_listed == []
    legacy.refresh_from_db()
    assert legacy.source_still_listed_at is None

    run = full_sync(personas, "ns/legacy-ci", "ns/deployer", now=NOW + 2 * HOUR)
    legacy.refresh_from_db()
    assert legacy.source_still_listed_at == NOW + 2 * HOUR
    assert run.still_listed == [
        {"id": str(legacy.pk), "name": "ns/legacy-ci", "external_id": "ns/legacy-ci"}
    ]
    assert AuditEvent.objects.filter(action="access_path.source_still_listed").count() == 1
    full_sync(personas, "ns/legacy-ci", "ns/deployer", now=NOW + 3 * HOUR)
    legacy.refresh_from_db()
    assert legacy.source_still_listed_at == NOW + 2 * HOUR  # first sighting only
    assert AuditEvent.objects.filter(action="access_path.source_still_listed").count() == 1

    queue = source_queue(now=NOW + 3 * HOUR, policy=current_policy())
    assert [p.pk for p in queue.still_listed] == [legacy.pk]
    sweep(now=NOW + 3 * HOUR)
    assert Notification.objects.filter(reason=Notification.Reason.SOURCE_STILL_LISTED).count() == 1

    client.force_login(personas.users.sam)
    page = client.get(reverse("registry:import-detail", args=[run.pk]))
    assert b"Retired here, still listed by the source (1)" in page.content
    page = client.get(reverse("registry:path-detail", args=[legacy.pk]))
    assert b"still listed this credential" in page.content

    # Confirming clears the flag; the next full sync that still lists it flags it again.
    services.path_confirm_source_disabled(actor=personas.sam, path=legacy, now=NOW + 4 * HOUR)
    legacy.refresh_from_db()
    assert legacy.source_still_listed_at is None
    full_sync(personas, "ns/legacy-ci", "ns/deployer", now=NOW + 5 * HOUR)
    legacy.refresh_from_db()
    assert legacy.source_still_listed_at == NOW + 5 * HOUR


def test_a_dry_run_names_the_paths_and_flags_nothing(personas):
    full_sync(personas, "ns/legacy-ci", now=NOW)
    legacy = AccessPath.objects.get(external_id="ns/legacy-ci")
    services.path_revoke(actor=personas.sam, path=legacy, reason="Replaced by OIDC.", now=NOW)
    report = services.paths_import(
        actor=personas.system, rows=[row("ns/legacy-ci")], source_format="k8s_serviceaccounts",
        system="k8s", full_sync=True, dry_run=True, now=NOW + HOUR,
    )  # fmt: skip
    assert [p["id"] for p in report.run.still_listed] == [str(legacy.pk)]
    legacy.refresh_from_db()
    assert legacy.source_still_listed_at is None
