"""The audit-events and notifications resources: newest first, scoped to what the
caller may see."""

from __future__ import annotations

import pytest
from django.urls import reverse

from registry.models import AuditEvent
from tests.api.helpers import assert_error, results, url

pytestmark = pytest.mark.django_db


def test_audit_events_newest_first_and_scoped(pat, own, other):
    events = results(pat.get(reverse("audit-event-list")))
    assert events and all(e["path"] == str(own.pk) for e in events)
    assert [e["seq"] for e in events] == sorted((e["seq"] for e in events), reverse=True)
    one = events[0]
    assert pat.get(reverse("audit-event-detail", args=[one["seq"]])).json() == one


def test_audit_events_filtered_by_path(sam, own, other):
    events = results(sam.get(reverse("audit-event-list") + f"?path={other.pk}"))
    assert {e["path"] for e in events} == {str(other.pk)}


def test_a_bad_audit_path_filter_is_400(sam, own):
    response = sam.get(reverse("audit-event-list") + "?path=nope")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_a_bad_audit_path_filter_names_the_field(sam, own):
    assert_error(sam.get(reverse("audit-event-list") + "?path=nope"), 400, errors=["path"])


def test_audit_event_records_the_request_id_and_the_token(ci, own):
    response = ci.patch(url(own), {"name": "renamed"}, format="json", HTTP_X_REQUEST_ID="job-7")
    assert response["X-Request-ID"] == "job-7"
    event = AuditEvent.objects.latest("seq")
    assert (event.action, event.request_id, event.actor_type) == (
        "access_path.updated",
        "job-7",
        "token",
    )
    assert event.actor_label == "token ci-2 (payments)"


def test_audit_event_of_an_invisible_path_is_404(pat, other):
    event = AuditEvent.objects.filter(path=other).first()
    assert_error(pat.get(reverse("audit-event-detail", args=[event.seq])), 404)


def test_notifications_list_and_retrieve(dana, pat, offer):
    items = results(dana.get(reverse("notification-list")))
    assert items and {n["team"] for n in items} == {"data"}
    assert items[0]["reason"] == "transfer_requested"
    assert dana.get(reverse("notification-detail", args=[items[0]["id"]])).json() == items[0]
    assert results(pat.get(reverse("notification-list"))) == []
    assert_error(pat.get(reverse("notification-detail", args=[items[0]["id"]])), 404)
