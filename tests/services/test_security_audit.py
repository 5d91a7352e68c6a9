"""Security events in the audit chain (docs/SECURITY-EVENTS.md): sign-ins, account and
group changes made anywhere, refused API tokens, refused requests on the API and on
pages. Each is in the hash chain, and none holds a password, a hash or a token."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import Group, Permission
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from registry.audit import verify_chain
from registry.models import AuditEvent
from registry.runtime.current_request import current_request, source_address
from registry.services import security
from tests.support_security import (
    ADDRESS,
    GITHUB_TOKEN,
    NEW_PASSWORD,
    PASSWORD,
    change_user,
    events,
    everything_stored,
    fact,
    only_event,
    stored_text,
    user_form,
)

pytestmark = pytest.mark.django_db


# --- the source address -----------------------------------------------------------------


def test_source_address_is_remote_addr_unless_behind_our_proxy(rf, settings):
    request = rf.get("/", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="198.51.100.1, 192.0.2.7")
    settings.SECURE_PROXY_SSL_HEADER = None
    assert source_address(request) == "10.0.0.5"
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # The entry our proxy appended; the ones before it are the client's own words.
    assert source_address(request) == "192.0.2.7"
    request.META["HTTP_X_FORWARDED_FOR"] = "198.51.100.1, <script>"
    assert source_address(request) == "10.0.0.5"
    request.META["HTTP_X_FORWARDED_FOR"] = ""
    assert source_address(request) == "10.0.0.5"
    assert source_address(None) == ""


def test_the_middleware_binds_the_request_only_while_it_is_served(rf):
    from registry.runtime.current_request import CurrentRequestMiddleware

    seen = []
    request = rf.get("/")
    CurrentRequestMiddleware(lambda r: seen.append(current_request()) or "response")(request)
    assert seen == [request]
    assert current_request() is None


# --- signing in and out -----------------------------------------------------------------


def test_signing_in_on_the_login_page_is_recorded_with_the_address(personas):
    client = Client(REMOTE_ADDR=ADDRESS)
    response = client.post(reverse("login"), {"username": "pat", "password": PASSWORD})
    assert response.status_code == 302
    event = only_event(security.LOGIN)
    assert event.actor_user == personas.users.pat
    assert (event.object_type, event.object_id) == ("user", str(personas.users.pat.pk))
    assert fact(event, "source_address") == ADDRESS
    assert event.request_id  # tied to the request's id like every event of a request
    assert PASSWORD not in stored_text(event)
    assert verify_chain().intact


def test_a_wrong_password_is_recorded_without_the_password(personas):
    tried = "Wrong-Horse-Battery-99"
    client = Client(REMOTE_ADDR=ADDRESS)
    response = client.post(reverse("login"), {"username": "pat", "password": tried})
    assert response.status_code == 200  # the form again, with its error
    event = only_event(security.LOGIN_FAILED)
    assert event.actor_user is None
    assert event.actor_label == security.ANONYMOUS
    assert (event.object_type, event.object_id) == ("user", str(personas.users.pat.pk))
    assert fact(event, "username") == "pat"
    assert fact(event, "source_address") == ADDRESS
    assert event.reason == security.LOGIN_FAILED_REASON
    assert tried not in everything_stored()
    assert not events(security.LOGIN)
    assert verify_chain().intact


def test_an_unknown_user_name_is_about_no_user(personas):
    Client(REMOTE_ADDR=ADDRESS).post(reverse("login"), {"username": "mallory", "password": "x"})
    event = only_event(security.LOGIN_FAILED)
    assert (event.object_type, event.object_id) == ("user", "")
    assert fact(event, "username") == "mallory"


def test_a_token_pasted_as_the_user_name_is_redacted(personas):
    Client().post(reverse("login"), {"username": GITHUB_TOKEN, "password": "x"})
    event = only_event(security.LOGIN_FAILED)
    assert fact(event, "username") == security.REDACTED
    assert (event.object_type, event.object_id) == ("user", "")
    assert GITHUB_TOKEN not in everything_stored()
    assert "A1b2C3d4E5f6" not in everything_stored()


def test_an_inactive_account_cannot_sign_in_and_that_is_recorded(personas):
    personas.users.pat.is_active = False
    personas.users.pat.save()
    Client().post(reverse("login"), {"username": "pat", "password": PASSWORD})
    assert not events(security.LOGIN)
    assert fact(only_event(security.LOGIN_FAILED), "username") == "pat"


def test_a_failed_admin_sign_in_is_recorded_too(personas):
    url = reverse("admin:login")
    Client(REMOTE_ADDR=ADDRESS).post(url, {"username": "sam", "password": "guess"})
    assert fact(only_event(security.LOGIN_FAILED), "source_address") == ADDRESS


def test_signing_out_is_recorded(personas):
    client = Client(REMOTE_ADDR=ADDRESS)
    client.post(reverse("login"), {"username": "pat", "password": PASSWORD})
    assert client.post(reverse("logout")).status_code == 302
    event = only_event(security.LOGOUT)
    assert event.actor_user == personas.users.pat
    assert fact(event, "source_address") == ADDRESS
    # Signing out again, no longer signed in, records nothing more.
    client.post(reverse("logout"))
    assert len(events(security.LOGOUT)) == 1
    assert verify_chain().intact


def test_a_rehash_at_sign_in_is_not_a_password_change(personas, settings):
    """Django re-hashes a correct password with the preferred hasher as it checks it."""
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ]
    old_hash = personas.users.pat.password
    Client().post(reverse("login"), {"username": "pat", "password": PASSWORD})
    personas.users.pat.refresh_from_db()
    assert personas.users.pat.password != old_hash  # it was re-hashed
    assert not events(security.PASSWORD_CHANGED)
    assert len(events(security.LOGIN)) == 1


# --- account changes in the admin -------------------------------------------------------


def test_making_a_user_staff_then_superuser_in_the_admin(admin_client, personas):
    pat, sam = personas.users.pat, personas.users.sam
    change_user(admin_client, pat, is_staff=True)
    staff = only_event(security.USER_CHANGED, object_id=str(pat.pk))
    assert staff.changes == {"is_staff": [False, True]}
    assert staff.actor_user == sam
    change_user(admin_client, pat, is_superuser=True)
    superuser = events(security.USER_CHANGED, object_id=str(pat.pk))[-1]
    assert superuser.changes == {"is_superuser": [False, True]}
    assert superuser.actor_user == sam
    change_user(admin_client, pat, is_active=False)
    assert events(security.USER_CHANGED, object_id=str(pat.pk))[-1].changes == {
        "is_active": [True, False]
    }
    assert verify_chain().intact


def test_renaming_a_user_and_changing_the_email(admin_client, personas):
    pat = personas.users.pat
    change_user(admin_client, pat, username="patricia", email="patricia@example.com")
    event = only_event(security.USER_CHANGED, object_id=str(pat.pk))
    assert event.changes == {
        "username": ["pat", "patricia"],
        "email": ["pat@example.com", "patricia@example.com"],
    }


def test_saving_an_unchanged_user_records_nothing(admin_client, personas):
    change_user(admin_client, personas.users.pat)
    assert not events(security.USER_CHANGED, object_id=str(personas.users.pat.pk))
    assert not events(security.USER_GROUPS_CHANGED)


def test_adding_a_user_to_a_group_in_the_admin(admin_client, personas):
    pat = personas.users.pat
    auditors = Group.objects.create(name="auditors")
    change_user(admin_client, pat, groups=[str(auditors.pk)])
    event = only_event(security.USER_GROUPS_CHANGED, object_id=str(pat.pk))
    assert event.changes == {"groups": [[], ["auditors"]]}
    assert event.actor_user == personas.users.sam
    change_user(admin_client, pat, groups=[])
    assert events(security.USER_GROUPS_CHANGED)[-1].changes == {"groups": [["auditors"], []]}
    assert verify_chain().intact


def test_granting_a_user_a_permission_in_the_admin(admin_client, personas):
    pat = personas.users.pat
    permission = Permission.objects.get(codename="change_user")
    change_user(admin_client, pat, user_permissions=[str(permission.pk)])
    event = only_event(security.USER_PERMISSIONS_CHANGED, object_id=str(pat.pk))
    assert event.changes == {"user_permissions": [[], ["auth.change_user"]]}
    assert event.actor_user == personas.users.sam


def test_changing_a_password_in_the_admin(admin_client, personas):
    pat = personas.users.pat
    url = reverse("admin:auth_user_password_change", args=[pat.pk])
    data = {"usable_password": "true", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    assert admin_client.post(url, data).status_code == 302
    event = only_event(security.PASSWORD_CHANGED, object_id=str(pat.pk))
    assert event.changes == {"password": [None, "changed"]}
    assert event.actor_user == personas.users.sam
    pat.refresh_from_db()
    assert pat.check_password(NEW_PASSWORD)
    stored = everything_stored()
    assert NEW_PASSWORD not in stored
    assert pat.password not in stored
    assert pat.password.split("$")[-1] not in stored  # not even the hash's digest
    assert not events(security.USER_CHANGED, object_id=str(pat.pk))
    assert verify_chain().intact


def test_disabling_password_sign_in_in_the_admin(admin_client, personas):
    pat = personas.users.pat
    url = reverse("admin:auth_user_password_change", args=[pat.pk])
    response = admin_client.post(url, {"usable_password": "false", "unset-password": "1"})
    assert response.status_code == 302
    event = only_event(security.PASSWORD_CHANGED, object_id=str(pat.pk))
    assert event.changes == {"password": [None, "changed"], "usable_password": [True, False]}


def test_creating_a_superuser_in_the_admin(admin_client, personas):
    url = reverse("admin:auth_user_add")
    data = {
        "username": "root2",
        "usable_password": "true",
        "password1": NEW_PASSWORD,
        "password2": NEW_PASSWORD,
    }
    assert admin_client.post(url, data).status_code == 302
    root2 = get_user_model().objects.get(username="root2")
    created = only_event(security.USER_CREATED, object_id=str(root2.pk))
    assert created.actor_user == personas.users.sam
    assert created.changes["is_superuser"] == [None, False]
    assert not events(security.PASSWORD_CHANGED, object_id=str(root2.pk))
    change_user(admin_client, root2, is_staff=True, is_superuser=True)
    assert events(security.USER_CHANGED, object_id=str(root2.pk))[-1].changes == {
        "is_staff": [False, True],
        "is_superuser": [False, True],
    }
    assert NEW_PASSWORD not in everything_stored()


def test_a_group_and_its_permissions_in_the_admin(admin_client, personas):
    permission = Permission.objects.get(codename="change_user")
    response = admin_client.post(
        reverse("admin:auth_group_add"), {"name": "operators", "permissions": [permission.pk]}
    )
    assert response.status_code == 302
    group = Group.objects.get(name="operators")
    assert only_event(security.GROUP_CREATED).changes == {"name": [None, "operators"]}
    permissions = only_event(security.GROUP_CHANGED, object_id=str(group.pk))
    assert permissions.changes == {"permissions": [[], ["auth.change_user"]]}
    assert permissions.actor_user == personas.users.sam
    response = admin_client.post(
        reverse("admin:auth_group_change", args=[group.pk]), {"name": "ops", "permissions": []}
    )
    assert response.status_code == 302
    assert [e.changes for e in events(security.GROUP_CHANGED)][1:] == [
        {"name": ["operators", "ops"]},
        {"permissions": [["auth.change_user"], []]},
    ]
    assert verify_chain().intact


def test_an_admin_change_that_fails_takes_its_event_with_it(admin_client, personas, monkeypatch):
    """The admin's change view is one transaction: the event commits with the change."""

    class Boom(Exception):
        pass

    def fail(*args, **kwargs):
        raise Boom

    monkeypatch.setattr(UserAdmin, "log_change", fail)  # after the user is saved
    pat = personas.users.pat
    with pytest.raises(Boom):
        admin_client.post(
            reverse("admin:auth_user_change", args=[pat.pk]), user_form(pat, is_superuser=True)
        )
    pat.refresh_from_db()
    assert not pat.is_superuser
    assert not events(security.USER_CHANGED, object_id=str(pat.pk))
    assert verify_chain().intact


# --- account changes anywhere else ------------------------------------------------------


def test_set_password_and_save_outside_a_request(personas):
    """What `manage.py changepassword` does: recorded, by the system, without the hash."""
    pat = personas.users.pat
    pat.set_password(NEW_PASSWORD)
    pat.save()
    event = only_event(security.PASSWORD_CHANGED, object_id=str(pat.pk))
    assert event.actor_type == AuditEvent.ActorType.SYSTEM
    assert event.actor_label == security.NO_REQUEST
    assert event.changes == {"password": [None, "changed"]}
    assert pat.password not in everything_stored()
    assert NEW_PASSWORD not in everything_stored()
    assert verify_chain().intact


def test_a_rolled_back_account_change_leaves_no_event(personas):
    class Boom(Exception):
        pass

    pat = personas.users.pat
    with pytest.raises(Boom), transaction.atomic():
        pat.is_superuser = True
        pat.save()
        assert events(security.USER_CHANGED, object_id=str(pat.pk))
        raise Boom
    assert not events(security.USER_CHANGED, object_id=str(pat.pk))
    assert verify_chain().intact


def test_creating_a_superuser_from_the_command_line(personas):
    root = get_user_model().objects.create_superuser("root", "root@example.com", NEW_PASSWORD)
    event = only_event(security.USER_CREATED, object_id=str(root.pk))
    assert event.changes == {
        "username": [None, "root"],
        "email": [None, "root@example.com"],
        "is_active": [None, True],
        "is_staff": [None, True],
        "is_superuser": [None, True],
    }
    assert event.actor_type == AuditEvent.ActorType.SYSTEM


def test_saving_only_other_fields_reads_and_records_nothing(personas, django_assert_num_queries):
    pat = personas.users.pat
    pat.is_superuser = True  # changed on the object, but not saved below
    with django_assert_num_queries(1):  # the UPDATE of last_login, nothing more
        pat.last_login = timezone.now()
        pat.save(update_fields=["last_login"])
    assert not events(security.USER_CHANGED, object_id=str(pat.pk))


def test_group_changes_from_either_side(personas):
    pat, dana = personas.users.pat, personas.users.dana
    auditors = Group.objects.create(name="auditors")
    auditors.user_set.add(pat, dana)
    added = events(security.USER_GROUPS_CHANGED)
    assert {(e.object_id, json.dumps(e.changes)) for e in added} == {
        (str(pat.pk), json.dumps({"groups": [[], ["auditors"]]})),
        (str(dana.pk), json.dumps({"groups": [[], ["auditors"]]})),
    }
    auditors.user_set.clear()
    cleared = events(security.USER_GROUPS_CHANGED)[2:]
    assert sorted(e.object_id for e in cleared) == sorted([str(pat.pk), str(dana.pk)])
    assert all(e.changes == {"groups": [["auditors"], []]} for e in cleared)
    pat.groups.add(auditors)
    pat.groups.clear()
    assert events(security.USER_GROUPS_CHANGED)[-1].changes == {"groups": [["auditors"], []]}
    permission = Permission.objects.get(codename="delete_user")
    permission.group_set.add(auditors)
    assert events(security.GROUP_CHANGED)[-1].changes == {"permissions": [[], ["auth.delete_user"]]}
    pat.user_permissions.add(permission)
    assert events(security.USER_PERMISSIONS_CHANGED)[-1].changes == {
        "user_permissions": [[], ["auth.delete_user"]]
    }
    auditors.delete()
    assert only_event(security.GROUP_DELETED).changes == {"name": ["auditors", None]}
    assert verify_chain().intact


def test_deleting_a_user_is_recorded(personas):
    ghost = get_user_model().objects.create_user("ghost", "ghost@example.com", "x")
    pk = ghost.pk
    ghost.delete()
    event = only_event(security.USER_DELETED, object_id=str(pk))
    assert event.changes["username"] == ["ghost", None]


def test_user_changed_never_takes_the_password():
    with pytest.raises(ValueError, match="password"):
        security.security_user_changed(
            actor=security.anonymous_actor(),
            user=get_user_model()(pk=1),
            changes={"password": ["a", "b"]},
            now=timezone.now(),
        )


# --- the account admin refuses credentials in names ----------------------------------------

TOKEN = "ghp_Zr8mK2pQ9vX4tL7nB3cW6yH1" + "dF5gJ0sA2eR8"


@pytest.mark.parametrize("field", ["first_name", "last_name", "username"])
def test_the_account_admin_refuses_a_credential_in_a_name(admin_client, personas, field):
    pat = personas.users.pat
    data = user_form(pat) | {field: TOKEN}
    response = admin_client.post(reverse("admin:auth_user_change", args=[pat.pk]), data)
    assert response.status_code == 200  # the form again, with the error on the field
    assert "This looks like a secret" in response.content.decode()
    pat.refresh_from_db()
    assert TOKEN not in (pat.username, pat.first_name, pat.last_name)
    add = admin_client.post(
        reverse("admin:auth_user_add"),
        {"username": TOKEN, "password1": "x-Long-pass-9911", "password2": "x-Long-pass-9911",
         "usable_password": "true"},
    )  # fmt: skip
    assert add.status_code == 200
    assert not get_user_model().objects.filter(username=TOKEN).exists()


def test_the_group_admin_refuses_a_credential_in_a_name(admin_client):
    from django.contrib.auth.models import Group

    response = admin_client.post(reverse("admin:auth_group_add"), {"name": "ops " + TOKEN})
    assert response.status_code == 200
    assert "This looks like a secret" in response.content.decode()
    assert not Group.objects.exists()
