"""Security events in the audit chain (docs/SECURITY-EVENTS.md): sign-ins, account and
group changes made anywhere, refused API tokens, refused requests on the API and on
pages. Each is in the hash chain, and none holds a password, a hash or a token."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import Group, Permission
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from api.authentication import MALFORMED_HEADER
from api.permissions import MISSING_SCOPE
from registry import errors, services, tokens
from registry.audit import verify_chain
from registry.models import AccessPath, ApiToken, AuditEvent
from registry.request_user import MIDDLEWARE_PATH, current_request, source_address
from registry.services import security
from registry.services.tokens import token_create, token_revoke
from tests.conftest import JUSTIFICATION

pytestmark = pytest.mark.django_db

PASSWORD = "nhi-demo-pass"  # the personas' password (tests/conftest.py)
NEW_PASSWORD = "Quiet-Harbour-Lantern-47"
GITHUB_TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0" * 2
ADDRESS = "203.0.113.9"
TRANSFER_REASON = "The data team runs this export job from next quarter on."


@pytest.fixture(autouse=True)
def request_user_middleware(settings):
    """The middleware that tells model signals and pages who is acting."""
    if MIDDLEWARE_PATH not in settings.MIDDLEWARE:
        settings.MIDDLEWARE = [*settings.MIDDLEWARE, MIDDLEWARE_PATH]


def events(action: str, **filters) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, **filters).order_by("seq"))


def only_event(action: str, **filters) -> AuditEvent:
    found = events(action, **filters)
    assert len(found) == 1, [(e.action, e.changes) for e in found]
    return found[0]


def stored_text(event: AuditEvent) -> str:
    """Everything an event keeps, as text, to look for what it must never hold."""
    values = AuditEvent.objects.filter(seq=event.seq).values().get()
    return json.dumps(values, default=str)


def everything_stored() -> str:
    return json.dumps(list(AuditEvent.objects.values()), default=str)


def fact(event: AuditEvent, name: str):
    before, after = event.changes[name]
    assert before is None
    return after


@pytest.fixture
def admin_client(personas):
    sam = personas.users.sam
    sam.is_staff = sam.is_superuser = True
    sam.save()
    client = Client()
    client.force_login(sam)
    return client


def user_form(user, **flags) -> dict:
    """The admin's change form for `user` as it stands, with `flags` changed."""
    user.refresh_from_db()
    data = {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
        "last_login_0": "",
        "last_login_1": "",
        "groups": [str(pk) for pk in user.groups.values_list("pk", flat=True)],
        "user_permissions": [str(pk) for pk in user.user_permissions.values_list("pk", flat=True)],
        "_save": "Save",
    }
    current = {"is_active": user.is_active, "is_staff": user.is_staff}
    current["is_superuser"] = user.is_superuser
    for name, value in (current | flags).items():
        if value:
            data[name] = "on"
    return data


def change_user(client, user, **form_changes):
    data = user_form(user, **{k: v for k, v in form_changes.items() if k.startswith("is_")})
    data |= {k: v for k, v in form_changes.items() if not k.startswith("is_")}
    response = client.post(reverse("admin:auth_user_change", args=[user.pk]), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    return response


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
    from registry.request_user import CurrentRequestMiddleware

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


# --- API tokens ---------------------------------------------------------------------------


def issue(personas, *, scopes=("read", "write"), now=None, days=30) -> tuple[ApiToken, str]:
    return token_create(
        actor=personas.system,
        team=personas.teams.payments,
        name="ci",
        scopes=list(scopes),
        expires_in_days=days,
        now=now or timezone.now(),
    )


def bearer(value: str) -> APIClient:
    client = APIClient(REMOTE_ADDR=ADDRESS)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {value}")
    return client


def assert_token_denied(response, *, presented: str, why: str, token: ApiToken | None):
    assert response.status_code == 401
    event = only_event(security.TOKEN_DENIED)
    assert fact(event, "token") == presented
    assert fact(event, "why") == why
    assert fact(event, "source_address") == ADDRESS
    assert fact(event, "operation") == f"GET {reverse('me')}"
    assert event.reason == security.TOKEN_DENIAL_REASONS[why]
    if token is None:
        assert (event.object_type, event.object_id) == ("apitoken", "")
        assert event.actor_label == security.ANONYMOUS
        assert event.path_id is None
    else:
        assert (event.object_type, event.object_id) == ("apitoken", str(token.pk))
        assert event.path_id == token.access_path_id  # on the token's path's timeline
        assert event.actor_type == AuditEvent.ActorType.TOKEN
    assert verify_chain().intact
    return event


def bad_checksum() -> str:
    value = tokens.generate()
    return value[:-1] + ("0" if value[-1] != "0" else "1")


@pytest.mark.parametrize(
    "value",
    ["nhir_not-a-token", bad_checksum(), GITHUB_TOKEN],
    ids=["shape", "checksum", "someone-elses-secret"],
)
def test_a_malformed_token_is_recorded_as_malformed(personas, value):
    response = bearer(value).get(reverse("me"))
    assert_token_denied(response, presented="malformed", why="malformed", token=None)
    assert value not in everything_stored()


def test_a_malformed_authorization_header(personas):
    client = APIClient(REMOTE_ADDR=ADDRESS)
    client.credentials(HTTP_AUTHORIZATION="Bearer two parts")
    response = client.get(reverse("me"))
    assert response.json()["detail"] == MALFORMED_HEADER
    assert_token_denied(response, presented="malformed", why="malformed", token=None)


def test_an_unknown_token_shows_only_its_prefix(personas):
    value = tokens.generate()
    response = bearer(value).get(reverse("me"))
    event = assert_token_denied(
        response, presented=tokens.display_prefix(value), why="unknown", token=None
    )
    assert value not in stored_text(event)


def test_a_revoked_token(personas):
    token, value = issue(personas)
    token_revoke(actor=personas.system, token=token, reason="Leaked in a build log.")
    response = bearer(value).get(reverse("me"))
    assert_token_denied(response, presented=token.prefix, why="revoked", token=token)
    assert value not in everything_stored()


def test_an_expired_token(personas):
    token, value = issue(personas, now=timezone.now() - dt.timedelta(days=40), days=30)
    response = bearer(value).get(reverse("me"))
    assert_token_denied(response, presented=token.prefix, why="expired", token=token)


def test_a_token_whose_path_was_revoked(personas):
    token, value = issue(personas)
    services.path_revoke(actor=personas.sam, path=token.access_path, reason="Retired the CI.")
    response = bearer(value).get(reverse("me"))
    assert_token_denied(response, presented=token.prefix, why="path_not_live", token=token)


def test_a_token_without_the_scope(personas):
    token, value = issue(personas, scopes=("read",))
    client = bearer(value)
    assert client.get(reverse("me")).status_code == 200
    assert not events(security.TOKEN_DENIED)
    response = client.post(reverse("access-path-list"), {}, format="json")
    assert response.status_code == 403
    event = only_event(security.TOKEN_DENIED)
    assert fact(event, "why") == security.MISSING_SCOPE
    assert fact(event, "token") == token.prefix
    assert fact(event, "operation") == f"POST {reverse('access-path-list')}"
    assert event.reason == MISSING_SCOPE.format(scope="write")
    assert (event.object_type, event.object_id) == ("apitoken", str(token.pk))
    assert not events(security.REQUEST_REFUSED)  # one refusal, one event
    assert value not in everything_stored()
    assert verify_chain().intact


def test_a_working_token_records_no_denial(personas):
    _token, value = issue(personas)
    assert bearer(value).get(reverse("me")).status_code == 200
    assert not events(security.TOKEN_DENIED)


def test_token_creation_is_audited_by_the_token_service(personas):
    token, value = issue(personas)
    event = only_event("api_token.created")
    assert event.object_id == str(token.pk)
    assert event.changes["prefix"] == [None, token.prefix]
    assert value not in everything_stored()


# --- refused requests: the API ----------------------------------------------------------


@pytest.fixture
def own(make_path):
    return make_path(name="own-export", now=timezone.now())


def session(user) -> APIClient:
    client = APIClient(REMOTE_ADDR=ADDRESS)
    client.force_authenticate(user)  # no sign-in event: only the refusal is looked at
    return client


def test_a_member_doing_what_only_leads_may_is_recorded(personas, own):
    url = reverse("access-path-transfer", args=[own.pk])
    response = session(personas.users.pat).post(
        url, {"to_team": "data", "reason": TRANSFER_REASON}, format="json"
    )
    assert response.status_code == 403
    event = only_event(security.REQUEST_REFUSED)
    assert event.actor_user == personas.users.pat
    assert event.reason == errors.NOT_A_LEAD
    assert (event.object_type, event.object_id) == ("accesspath", str(own.pk))
    assert event.path_id == own.pk
    assert event.changes == {
        "operation": [None, "access-path-transfer"],
        "request": [None, f"POST {url}"],
        "status": [None, 403],
        "source_address": [None, ADDRESS],
        "target": [None, f"accesspath:{own.pk}"],
    }
    # The refused change itself left nothing behind.
    assert not events("transfer.requested")
    assert verify_chain().intact


def test_an_illegal_transition_is_recorded(personas, own):
    url = reverse("access-path-claim", args=[own.pk])
    body = {"team": "payments", "reason": "Our billing export job runs under this account."}
    response = session(personas.users.pat).post(url, body, format="json")
    assert response.status_code == 409
    event = only_event(security.REQUEST_REFUSED)
    assert event.reason == errors.PATH_NOT_CLAIMABLE.format(state="active")
    assert fact(event, "status") == 409
    assert event.path_id == own.pk
    assert verify_chain().intact


def test_a_refusal_on_a_claim_names_the_claim_and_its_path(personas, unowned_path):
    claim = services.path_claim(
        actor=personas.pat,
        path=unowned_path,
        team=personas.teams.payments,
        reason="Our billing export job runs under this account every night.",
    )
    response = session(personas.users.pat).post(
        reverse("claim-approve", args=[claim.pk]), {"reason": "Looks right."}, format="json"
    )
    assert response.status_code == 403
    event = only_event(security.REQUEST_REFUSED)
    assert (event.object_type, event.object_id) == ("claim", str(claim.pk))
    assert event.path_id == unowned_path.pk


def test_a_refused_create_is_about_the_caller(personas):
    body = {
        "name": "ledger-reader",
        "kind": AccessPath.Kind.SERVICE_ACCOUNT,
        "system": "aws",
        "external_id": "ledger-reader",
        "environment": AccessPath.Environment.PROD,
        "justification": JUSTIFICATION,
        "ticket_url": "https://tickets.example.com/browse/SEC-1",
        "risk_tier": AccessPath.RiskTier.HIGH,
        "owner_team": "data",
    }
    response = session(personas.users.pat).post(reverse("access-path-list"), body, format="json")
    assert response.status_code == 403
    event = only_event(security.REQUEST_REFUSED)
    assert (event.object_type, event.object_id) == ("user", str(personas.users.pat.pk))
    assert fact(event, "target") == "accesspath"
    assert event.path_id is None


def test_a_refusal_of_an_integration_token_names_the_token(personas, own):
    token, value = issue(personas)
    url = reverse("access-path-revoke", args=[own.pk])
    response = bearer(value).post(url, {"reason": "Retired."}, format="json")
    assert response.status_code == 403
    event = only_event(security.REQUEST_REFUSED)
    assert event.actor_type == AuditEvent.ActorType.TOKEN
    assert event.actor_label == f"token {token.name} (payments)"
    assert event.reason == errors.HUMAN_REQUIRED
    assert (event.object_type, event.object_id) == ("accesspath", str(own.pk))


def test_a_session_write_failing_csrf_is_recorded_for_its_person(personas, own):
    client = APIClient(enforce_csrf_checks=True, REMOTE_ADDR=ADDRESS)
    client.force_login(personas.users.pat)
    response = client.patch(reverse("access-path-detail", args=[own.pk]), {"name": "x"})
    assert response.status_code == 403
    event = only_event(security.REQUEST_REFUSED)
    assert event.actor_user == personas.users.pat
    assert "CSRF" in event.reason
    # Authentication failed, so the caller's view of the path is unknown: not linked.
    assert event.path_id is None
    assert fact(event, "target") == f"accesspath:{own.pk}"


@pytest.mark.parametrize(
    ("who", "status"), [("pat", 400), ("dana", 404), (None, 401)], ids=["400", "404", "401"]
)
def test_invalid_input_unknown_objects_and_no_credentials_are_not_recorded(
    personas, own, who, status
):
    client = session(getattr(personas.users, who)) if who else APIClient()
    url = reverse("access-path-transfer", args=[own.pk])
    response = client.post(url, {"to_team": "data"}, format="json")  # no reason: 400
    assert response.status_code == status
    assert not AuditEvent.objects.filter(action__in=security.SECURITY_ACTIONS).exclude(
        action__in=[security.USER_CREATED]
    )


def test_a_stale_version_is_not_recorded(personas, own):
    url = reverse("access-path-detail", args=[own.pk])
    response = session(personas.users.lee).patch(
        url, {"consumers": "cron"}, format="json", HTTP_IF_MATCH='W/"99"'
    )
    assert response.status_code == 412
    assert not events(security.REQUEST_REFUSED)


# --- refused requests: the pages ----------------------------------------------------------


def test_a_refused_page_action_is_recorded(personas, own):
    client = Client(REMOTE_ADDR=ADDRESS)
    client.force_login(personas.users.pat)
    url = reverse("registry:path-transfer", args=[own.pk])
    data = {"version": own.version, "to_team": "data", "reason": TRANSFER_REASON}
    response = client.post(url, data)
    assert response.status_code == 403
    event = only_event(security.REQUEST_REFUSED)
    assert event.actor_user == personas.users.pat
    assert event.reason == errors.NOT_A_LEAD
    assert event.path_id == own.pk
    assert fact(event, "operation") == "registry:path-transfer"
    assert fact(event, "request") == f"POST {url}"
    assert fact(event, "status") == 403
    assert fact(event, "source_address") == ADDRESS
    assert not events("transfer.requested")
    assert verify_chain().intact


def test_an_illegal_transition_on_a_page_is_recorded(personas, own):
    services.path_revoke(actor=personas.lee, path=own, reason="The export job was retired.")
    client = Client()
    client.force_login(personas.users.lee)
    url = reverse("registry:path-revoke", args=[own.pk])
    own.refresh_from_db()
    response = client.post(url, {"version": own.version, "reason": "Again, to be sure."})
    assert response.status_code == 409
    event = only_event(security.REQUEST_REFUSED)
    assert event.reason == errors.PATH_NOT_LIVE.format(state="revoked")
    assert fact(event, "status") == 409


def test_a_refused_token_revoke_on_a_team_page_names_the_token(personas):
    token, _value = issue(personas)
    client = Client()
    client.force_login(personas.users.pat)  # a member of payments, not its lead
    url = reverse("registry:token-revoke", args=["payments", token.pk])
    response = client.post(url, {"reason": "Not ours to keep."})
    assert response.status_code == 403
    event = only_event(security.REQUEST_REFUSED)
    assert (event.object_type, event.object_id) == ("apitoken", str(token.pk))
    assert event.path_id == token.access_path_id


def test_a_page_form_error_is_not_recorded(personas, own):
    client = Client()
    client.force_login(personas.users.lee)
    url = reverse("registry:path-transfer", args=[own.pk])
    data = {"version": own.version, "to_team": "data", "reason": ""}
    assert client.post(url, data).status_code == 400
    assert not events(security.REQUEST_REFUSED)


def test_without_the_middleware_pages_record_no_refusal(personas, own, settings):
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != MIDDLEWARE_PATH]
    client = Client()
    client.force_login(personas.users.pat)
    url = reverse("registry:path-transfer", args=[own.pk])
    data = {"version": own.version, "to_team": "data", "reason": TRANSFER_REASON}
    assert client.post(url, data).status_code == 403
    assert not events(security.REQUEST_REFUSED)


def test_the_missing_middleware_is_a_start_up_warning(settings):
    from registry.request_user import check_middleware

    assert check_middleware() == []
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != MIDDLEWARE_PATH]
    (warning,) = check_middleware()
    assert warning.id == "registry.W001"


# --- all of it ----------------------------------------------------------------------------


def test_security_events_are_in_the_chain_with_the_rest(admin_client, personas, own):
    Client().post(reverse("login"), {"username": "pat", "password": "nope"})
    change_user(admin_client, personas.users.pat, is_staff=True)
    bearer(tokens.generate()).get(reverse("me"))
    session(personas.users.pat).post(
        reverse("access-path-transfer", args=[own.pk]),
        {"to_team": "data", "reason": TRANSFER_REASON},
        format="json",
    )
    services.path_update(actor=personas.lee, path=own, changes={"consumers": "cron"})
    report = verify_chain()
    assert report.intact
    assert report.checked == AuditEvent.objects.count()
    recorded = set(AuditEvent.objects.values_list("action", flat=True))
    assert {
        security.LOGIN,
        security.LOGIN_FAILED,
        security.USER_CHANGED,
        security.TOKEN_DENIED,
        security.REQUEST_REFUSED,
        "access_path.updated",
    } <= recorded


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
