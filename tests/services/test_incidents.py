"""Leak incidents: the services (open, contain, close, link), who may act, audit in the
same transaction, visibility (404 for outsiders), the API with its query counts, the
pages, and the dashboard's median time to contain on both databases."""

from __future__ import annotations

import datetime as dt
import hashlib
import re

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from registry import services
from registry.models import AuditEvent, Incident, Notification
from registry.rules import errors
from registry.rules.errors import Invalid, InvalidTransition, NotAllowed, StaleVersion
from registry.rules.policies import current_policy
from registry.selectors.dashboard import dashboard_stats
from registry.selectors.incidents import incident_figures
from registry.services.identifiers import identifiers_set
from tests.conftest import NOW

pytestmark = pytest.mark.django_db

HOUR = dt.timedelta(hours=1)
KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
FP = hashlib.sha256(SECRET.encode()).hexdigest()
GH_TOKEN = "ghp_" + "R8sYmZ3kVq2LwT9pXc4NbH6dJf1GaE0uKi7o"


@pytest.fixture
def keyed(personas, path):
    identifiers_set(
        actor=personas.sam, path=path, identifiers=[("key_id", KEY), ("fingerprint", FP)], now=NOW
    )
    return path


@pytest.fixture
def opened(personas, keyed) -> Incident:
    return services.incident_open(actor=personas.pat, path=keyed, summary="In a gist.", now=NOW)


def api(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_login(user)
    return client


# --- services ---------------------------------------------------------------------------


def test_open_records_the_report_and_audits_it(personas, opened, keyed):
    assert opened.state == Incident.State.OPEN
    assert opened.path == keyed and opened.matched_by == "path"
    assert opened.reported_by == personas.users.pat and opened.reported_by_label == "pat"
    event = AuditEvent.objects.get(action="incident.opened")
    assert (event.object_type, event.object_id, event.path_id) == (
        "incident",
        str(opened.pk),
        keyed.pk,
    )
    assert event.reason == "In a gist."


def test_anyone_signed_in_may_report_by_identifier(personas, keyed):
    incident = services.incident_open(actor=personas.otto, identifier=KEY, now=NOW)
    assert incident.path == keyed and incident.matched_by == "key_id"
    by_fp = services.incident_open(actor=personas.otto, identifier=f"sha256:{FP.upper()}", now=NOW)
    assert by_fp.matched_by == "fingerprint"
    assert Notification.objects.filter(reason="incident", team=personas.teams.payments).exists()


def test_an_unknown_identifier_opens_an_unmatched_incident_for_security(personas, keyed):
    incident = services.incident_open(
        actor=personas.pat, identifier="AKIAUNKNOWN0000000000", now=NOW
    )
    assert incident.path is None and incident.escalation_stage == 0
    event = AuditEvent.objects.get(action="incident.opened", object_id=str(incident.pk))
    assert event.changes["identifier"] == [None, "AKIAUNKNOWN0000000000"]


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"identifier": GH_TOKEN}, "value"),
        ({"summary": f"the token is {GH_TOKEN}"}, "summary"),
        ({"detection": "secret_scanning"}, "detection"),
        ({"detected_at": NOW + 2 * HOUR}, "detected_at"),
        ({"alert_url": "javascript:alert(1)"}, "alert_url"),
        ({}, "path"),
    ],
)
def test_bad_reports_name_the_field_and_change_nothing(personas, keyed, values, field):
    values = {"identifier": KEY, **values} if "identifier" not in values and values else values
    with pytest.raises(Invalid) as exc:
        services.incident_open(actor=personas.pat, now=NOW, **values)
    assert field in exc.value.errors
    assert GH_TOKEN not in str(exc.value.errors)
    assert (
        not Incident.objects.exists()
        and not AuditEvent.objects.filter(action__startswith="incident").exists()
    )


def test_contain_then_close(personas, opened):
    contained = services.incident_contain(
        actor=personas.pat,
        incident=opened,
        expected_version=1,
        note="Key deleted in IAM.",
        now=NOW + HOUR,
    )
    assert contained.state == "contained" and contained.contained_at == NOW + HOUR
    assert contained.contained_by_label == "pat" and contained.version == 2
    with pytest.raises(InvalidTransition):
        services.incident_contain(actor=personas.pat, incident=opened, now=NOW + HOUR)
    closed = services.incident_close(
        actor=personas.lee,
        incident=opened,
        reason="Rotated; no use seen in CloudTrail.",
        now=NOW + 2 * HOUR,
    )
    assert closed.state == "closed" and closed.closed_at == NOW + 2 * HOUR
    actions = list(
        AuditEvent.objects.filter(object_type="incident")
        .order_by("seq")
        .values_list("action", flat=True)
    )
    assert actions == [
        "incident.opened",
        "incident.escalated",
        "incident.contained",
        "incident.closed",
    ]
    with pytest.raises(InvalidTransition, match=errors.INCIDENT_ALREADY_CLOSED):
        services.incident_close(actor=personas.sam, incident=opened, reason="again please")


def test_a_stale_version_is_refused(personas, opened):
    with pytest.raises(StaleVersion):
        services.incident_contain(actor=personas.pat, incident=opened, expected_version=7, now=NOW)
    assert Incident.objects.get().state == "open"


def test_who_may_contain_close_and_link(personas, opened, keyed):
    for outsider in (personas.dana, personas.otto):
        with pytest.raises(NotAllowed):
            services.incident_contain(actor=outsider, incident=opened, now=NOW)
    with pytest.raises(NotAllowed, match=re.escape(errors.INCIDENT_OPEN_CLOSE_NEEDS_SECURITY)):
        services.incident_close(actor=personas.lee, incident=opened, reason="false alarm really")
    with pytest.raises(NotAllowed, match=errors.NOT_A_SECURITY_REVIEWER):
        services.incident_link_path(actor=personas.lee, incident=opened, path=keyed)
    # The owning team's integration may record the containment it performed.
    services.incident_contain(actor=personas.payments_ci, incident=opened, now=NOW)
    with pytest.raises(NotAllowed, match=errors.HUMAN_REQUIRED):
        services.incident_close(
            actor=personas.payments_ci, incident=opened, reason="revoked it all"
        )


def test_security_closes_a_false_positive_while_open(personas, opened):
    closed = services.incident_close(
        actor=personas.sam, incident=opened, reason="A test key from the docs."
    )
    assert closed.state == "closed" and closed.contained_at is None


def test_security_links_an_unmatched_incident_and_the_team_is_told(personas, keyed):
    incident = services.incident_open(actor=personas.sam, identifier="someone-else", now=NOW)
    assert not Notification.objects.filter(reason="incident").exists()
    linked = services.incident_link_path(
        actor=personas.sam, incident=incident, path=keyed, now=NOW + HOUR
    )
    assert linked.path == keyed and linked.matched_by == "linked" and linked.escalation_stage == 2
    assert set(
        Notification.objects.filter(reason="incident").values_list("audience", flat=True)
    ) == {
        "members",
        "leads",
    }
    with pytest.raises(InvalidTransition, match=errors.INCIDENT_ALREADY_LINKED):
        services.incident_link_path(actor=personas.sam, incident=incident, path=keyed)


def test_the_audit_event_commits_with_the_change(personas, opened, monkeypatch):
    import registry.services.incidents as module

    def broken(**kwargs):
        raise RuntimeError("audit down")

    monkeypatch.setattr(module, "audit_record", broken)
    with pytest.raises(RuntimeError):
        services.incident_contain(actor=personas.pat, incident=opened, now=NOW)
    assert Incident.objects.get().state == "open"


# --- the API ----------------------------------------------------------------------------


def test_outsiders_get_404_and_lists_are_scoped(personas, opened):
    url = reverse("incident-detail", args=[opened.pk])
    assert api(personas.users.pat).get(url).status_code == 200
    for outsider in (personas.users.dana, personas.users.otto):
        client = api(outsider)
        assert client.get(url).status_code == 404
        assert client.post(url + "contain/", {}, format="json").status_code == 404
        assert client.get(reverse("incident-list")).json()["results"] == []
    unmatched = services.incident_open(actor=personas.pat, identifier="nothing-known", now=NOW)
    assert (
        api(personas.users.pat).get(reverse("incident-detail", args=[unmatched.pk])).status_code
        == 404
    )
    ids = [i["id"] for i in api(personas.users.sam).get(reverse("incident-list")).json()["results"]]
    assert ids == [unmatched.pk, opened.pk]
    assert api().get(url).status_code in (401, 403)


def test_api_report_by_identifier_of_an_invisible_path_answers_routing_only(personas, keyed):
    response = api(personas.users.otto).post(
        reverse("incident-list"), {"identifier": KEY, "summary": "Seen in a paste."}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body == {
        "visible": False,
        "state": "open",
        "route_to": {"slug": "payments", "name": "Payments", "email": "payments@example.com"},
    }
    assert Incident.objects.get().path == keyed


def test_api_report_of_a_path_and_the_transitions(personas, keyed):
    client = api(personas.users.pat)
    created = client.post(reverse("incident-list"), {"path": str(keyed.pk)}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["path"]["owner_team"] == "payments" and body["version"] == 1
    url = reverse("incident-detail", args=[body["id"]])
    assert client.post(url + "contain/", {"expected_version": 5}, format="json").status_code == 412
    contained = client.post(url + "contain/", {"expected_version": 1}, format="json")
    assert contained.status_code == 200 and contained.json()["state"] == "contained"
    assert client.post(url + "close/", {}, format="json").status_code == 400
    closed = client.post(
        url + "close/", {"reason": "Rotated everywhere."}, HTTP_IF_MATCH='W/"2"', format="json"
    )
    assert closed.status_code == 200 and closed.json()["state"] == "closed"
    assert client.post(url + "contain/", {}, format="json").status_code == 409
    assert (
        client.post(reverse("incident-list"), {"path": "not-a-uuid"}, format="json").status_code
        == 400
    )


def test_api_link_is_for_security(personas, keyed):
    incident = services.incident_open(actor=personas.sam, identifier="nothing-known", now=NOW)
    url = reverse("incident-detail", args=[incident.pk]) + "link/"
    response = api(personas.users.sam).post(
        url, {"path": str(keyed.pk), "expected_version": 1}, format="json"
    )
    assert response.status_code == 200 and response.json()["path"]["id"] == str(keyed.pk)


def test_api_list_costs_the_same_for_any_page(personas, make_path, django_assert_max_num_queries):
    client = api(personas.users.pat)
    services.incident_open(actor=personas.pat, path=make_path(name="first"), now=NOW)
    with django_assert_max_num_queries(12) as few:
        assert len(client.get(reverse("incident-list")).json()["results"]) == 1
    for i in range(15):
        services.incident_open(actor=personas.pat, path=make_path(name=f"p{i}"), now=NOW)
    with django_assert_max_num_queries(len(few.captured_queries)):
        page = client.get(reverse("incident-list"), {"page_size": 10}).json()
    assert len(page["results"]) == 10 and page["next"]


# --- pages ------------------------------------------------------------------------------


def test_pages_list_show_and_act(client, personas, opened, keyed):
    client.force_login(personas.users.pat)
    listing = client.get(reverse("registry:incident-list"))
    assert listing.status_code == 200 and f"#{opened.pk}" in listing.content.decode()
    detail = client.get(reverse("registry:incident-detail", args=[opened.pk]))
    assert "Mark contained" in detail.content.decode()
    assert "Link to path" not in detail.content.decode()
    path_page = client.get(reverse("registry:path-detail", args=[keyed.pk])).content.decode()
    assert f"/incidents/{opened.pk}/" in path_page
    response = client.post(
        reverse("registry:incident-contain", args=[opened.pk]), {"version": 1, "note": "Deleted."}
    )
    assert response.status_code == 302
    stale = client.post(
        reverse("registry:incident-close", args=[opened.pk]), {"version": 1, "reason": "x y"}
    )
    assert stale.status_code == 409
    client.force_login(personas.users.dana)
    assert client.get(reverse("registry:incident-detail", args=[opened.pk])).status_code == 404


def test_the_report_page_from_triage_routes_without_revealing(client, personas, keyed):
    client.force_login(personas.users.otto)
    form = client.get(reverse("registry:incident-new"), {"identifier": KEY, "kind": "key_id"})
    assert form.status_code == 200 and KEY in form.content.decode()
    response = client.post(
        reverse("registry:incident-new"),
        {"identifier": KEY, "kind": "key_id", "detection": "manual"},
    )
    assert response.status_code == 201
    page = response.content.decode()
    assert "Payments" in page and keyed.name not in page
    refused = client.post(
        reverse("registry:incident-new"), {"identifier": GH_TOKEN, "detection": "manual"}
    )
    assert refused.status_code == 400 and GH_TOKEN not in refused.content.decode()


def test_triage_links_to_the_report_page(personas, keyed):
    answer = services.triage_lookup(actor=personas.otto, value=KEY, now=NOW).data
    assert answer["matches"][0]["incident_url"].endswith(f"/incidents/new/?identifier={KEY}")


# --- dashboard --------------------------------------------------------------------------


def contained_after(personas, path, hours: float, detected: dt.datetime) -> Incident:
    incident = services.incident_open(
        actor=personas.pat, path=path, detected_at=detected, now=detected
    )
    return services.incident_contain(
        actor=personas.pat, incident=incident, now=detected + dt.timedelta(hours=hours)
    )


@pytest.mark.parametrize(
    ("durations", "median"), [([], None), ([2], 2), ([1, 9, 3], 3), ([1, 2, 6, 30], 4)]
)
def test_the_median_time_to_contain(personas, make_path, durations, median):
    now = NOW + dt.timedelta(days=10)
    for i, hours in enumerate(durations):
        contained_after(personas, make_path(name=f"c{i}"), hours, NOW + dt.timedelta(hours=i))
    # Outside the 90 days, and still open: neither counts in the median.
    contained_after(personas, make_path(name="old"), 500, NOW - dt.timedelta(days=120))
    services.incident_open(actor=personas.pat, path=make_path(name="open"), now=NOW)
    figures = incident_figures(actor=personas.sam, now=now)
    assert figures.open == 1 and figures.contained_in_window == len(durations)
    expected = None if median is None else dt.timedelta(hours=median)
    assert figures.median_to_contain == expected
    assert figures.industry_days == 27


def test_the_dashboard_shows_the_incident_figures(client, personas, make_path):
    contained_after(personas, make_path(name="a"), 3, NOW)
    services.incident_open(actor=personas.pat, path=make_path(name="b"), now=NOW)
    stats = dashboard_stats(actor=personas.pat, now=NOW + HOUR * 5, policy=current_policy())
    assert stats.incidents.open == 1 and stats.incidents.median_hours == 3.0
    assert (
        dashboard_stats(actor=personas.dana, now=NOW, policy=current_policy()).incidents.open == 0
    )
    client.force_login(personas.users.pat)
    page = client.get(reverse("registry:dashboard")).content.decode()
    assert 'data-figure="open-incidents">1<' in page and "27 days" in page
