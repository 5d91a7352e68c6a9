"""The admin changes nothing except through services, deletes nothing, edits no audit."""

import pytest
from django.contrib.admin.sites import site
from django.urls import reverse

from registry.models import AccessPath, AuditEvent, Claim, Membership, Team
from tests.conftest import CHANGE_URL, JUSTIFICATION, TICKET

pytestmark = pytest.mark.django_db


@pytest.fixture
def sam_admin(client, personas):
    personas.users.sam.is_staff = personas.users.sam.is_superuser = True
    personas.users.sam.save()
    client.force_login(personas.users.sam)
    return client


def test_every_model_is_registered():
    from django.apps import apps

    registered = set(site._registry)
    for model in apps.get_app_config("registry").get_models():
        if model.__name__ != "AuditChainHead":
            assert model in registered, model


def test_nothing_can_be_deleted_and_audit_is_read_only(rf, personas):
    request = rf.get("/")
    request.user = personas.users.sam
    for model_admin in site._registry.values():
        if model_admin.model._meta.app_label == "registry":
            assert not model_admin.has_delete_permission(request)
    audit_admin = site._registry[AuditEvent]
    assert not audit_admin.has_add_permission(request)
    assert not audit_admin.has_change_permission(request)


def test_pages_load(sam_admin, make_path, unowned_path):
    path = make_path()
    for url in [
        reverse("admin:registry_accesspath_changelist"),
        reverse("admin:registry_accesspath_change", args=[path.pk]),
        reverse("admin:registry_accesspath_add"),
        reverse("admin:registry_auditevent_changelist"),
        reverse("admin:registry_claim_changelist"),
        reverse("admin:registry_team_changelist"),
        reverse("admin:registry_membership_changelist"),
    ]:
        assert sam_admin.get(url).status_code == 200, url


def test_add_path_goes_through_the_service(sam_admin, personas):
    response = sam_admin.post(
        reverse("admin:registry_accesspath_add"),
        {
            "name": "deploy-bot", "kind": "ci_secret", "system": "github",
            "external_id": "gh-deploy-bot", "environment": "prod",
            "owner_team": personas.teams.payments.pk, "created_via": "pipeline",
            "risk_tier": "high", "credential_lifetime": "static",
            "justification": JUSTIFICATION, "ticket_url": TICKET,
            "approved_by": "lee", "approved_by_team": personas.teams.payments.pk,
            "change_url": CHANGE_URL, "merged_by": "lee",
            "merged_by_team": personas.teams.payments.pk,
        },
    )  # fmt: skip
    assert response.status_code == 302, response.context["adminform"].form.errors
    path = AccessPath.objects.get(external_id="gh-deploy-bot")
    assert path.change_url == CHANGE_URL and path.merged_by_team == personas.teams.payments
    assert path.state == "active" and path.next_review_at is not None
    assert AuditEvent.objects.filter(path=path, action="access_path.registered").exists()


def test_service_refusal_shows_on_the_form(sam_admin, personas):
    response = sam_admin.post(
        reverse("admin:registry_accesspath_add"),
        {
            "name": "deploy-bot", "kind": "ci_secret", "system": "github",
            "environment": "prod", "owner_team": personas.teams.payments.pk,
            "created_via": "pipeline", "risk_tier": "high", "credential_lifetime": "static",
            "justification": "tbd", "ticket_url": TICKET,
        },
    )  # fmt: skip
    assert response.status_code == 200
    assert "justification" in response.context["adminform"].form.errors
    assert not AccessPath.objects.filter(name="deploy-bot").exists()


def test_revoke_action_asks_for_a_reason_then_calls_the_service(sam_admin, make_path):
    path = make_path()
    url = reverse("admin:registry_accesspath_changelist")
    form = sam_admin.post(url, {"action": "revoke", "_selected_action": [path.pk]})
    assert b"Reason (recorded in the audit log)" in form.content
    sam_admin.post(
        url,
        {"action": "revoke", "_selected_action": [path.pk], "apply": "1",
         "reason": "Replaced by workload identity."},
    )  # fmt: skip
    path.refresh_from_db()
    assert path.state == "revoked"
    event = AuditEvent.objects.get(path=path, action="access_path.revoked")
    assert event.reason == "Replaced by workload identity."
    assert event.actor_label == "sam"


def test_approve_claim_action(sam_admin, personas, unowned_path):
    from registry import services

    claim = services.path_claim(
        actor=personas.pat, path=unowned_path, team=personas.teams.payments,
        reason="Our nightly payout batch runs under this account.",
    )  # fmt: skip
    sam_admin.post(
        reverse("admin:registry_claim_changelist"),
        {"action": "approve", "_selected_action": [claim.pk]},
    )
    claim.refresh_from_db()
    assert claim.status == Claim.Status.APPROVED


def test_refused_action_reports_and_changes_nothing(client, personas, make_path):
    personas.users.pat.is_staff = True
    personas.users.pat.save()
    from django.contrib.auth.models import Permission

    personas.users.pat.user_permissions.add(*Permission.objects.filter(codename__endswith="team"))
    client.force_login(personas.users.pat)
    response = client.post(
        reverse("admin:registry_team_changelist"),
        {"action": "deactivate", "_selected_action": [personas.teams.data.pk], "apply": "1",
         "reason": "Team dissolved."},
        follow=True,
    )  # fmt: skip
    assert "Only a security reviewer may do this." in response.content.decode()
    assert Team.objects.get(pk=personas.teams.data.pk).is_active


def test_membership_add_through_admin(sam_admin, personas):
    response = sam_admin.post(
        reverse("admin:registry_membership_add"),
        {"team": personas.teams.data.pk, "user": personas.users.otto.pk, "role": "member"},
    )
    assert response.status_code == 302
    assert Membership.objects.filter(user=personas.users.otto, team=personas.teams.data).exists()
    assert AuditEvent.objects.filter(action="membership.added").count() >= 1


def test_dead_notification_can_be_retried_by_security_only(sam_admin, client, personas, make_path):
    from registry.models import Notification
    from registry.notifications.outbox import Notice, queue
    from tests.conftest import NOW

    path = make_path()
    team = personas.teams.payments
    from django.db import transaction

    with transaction.atomic():
        queue(
            [Notice(team_id=team.pk, audience="members", path_id=path.pk,
                    reason="review_reminder", cycle=NOW, stage=7)],
            teams={team.pk: team}, now=NOW,
        )  # fmt: skip
    notification = Notification.objects.get(path=path)
    Notification.objects.filter(pk=notification.pk).update(status="dead", attempts=8)
    from registry.rules.errors import NotAllowed
    from registry.services.delivery import notification_retry

    with pytest.raises(NotAllowed):
        notification_retry(actor=personas.lee, notification=notification)
    sam_admin.post(
        reverse("admin:registry_notification_changelist"),
        {"action": "retry", "_selected_action": [notification.pk]},
    )
    notification.refresh_from_db()
    assert (notification.status, notification.attempts) == ("pending", 0)
    assert AuditEvent.objects.filter(action="notification.retried").count() == 1


def test_path_change_page_lists_its_notifications(sam_admin, personas, make_path):
    from registry.services.sweep import sweep

    path = make_path()
    sweep(now=path.next_review_at)
    html = sam_admin.get(reverse("admin:registry_accesspath_change", args=[path.pk]))
    assert "review_overdue" in html.content.decode()


def test_edit_path_goes_through_the_service(sam_admin, personas, make_path):
    path = make_path()
    url = reverse("admin:registry_accesspath_change", args=[path.pk])
    form = sam_admin.get(url).context["adminform"].form
    data = {
        name: ("" if value is None else value)
        for name, value in form.initial.items()
        if name in form.fields
    }
    data.update(
        {
            "owner_team": personas.teams.payments.pk,
            "steward_team": "",
            "risk_tier": "critical",
            "notifications-TOTAL_FORMS": "0",
            "notifications-INITIAL_FORMS": "0",
            "notifications-MIN_NUM_FORMS": "0",
            "notifications-MAX_NUM_FORMS": "1000",
        }
    )
    data = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in data.items()}
    for key in ("expires_at", "last_rotated_at", "last_used_at"):
        value = data.get(key)
        if value:
            data[f"{key}_0"], data[f"{key}_1"] = value[:10], value[11:19]
    response = sam_admin.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    path.refresh_from_db()
    assert (path.risk_tier, path.review_interval_days, path.version) == ("critical", 30, 2)
    event = AuditEvent.objects.get(path=path, action="access_path.updated")
    assert event.changes["risk_tier"] == ["high", "critical"]
