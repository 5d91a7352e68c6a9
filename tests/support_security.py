"""Reading security events back in tests: what an event keeps, and nothing it must not."""

from __future__ import annotations

import json

from django.test import Client
from django.urls import reverse

from registry.models import AuditEvent

PASSWORD = "nhi-demo-pass"  # the personas' password (tests/conftest.py)
NEW_PASSWORD = "Quiet-Harbour-Lantern-47"
GITHUB_TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0" * 2
ADDRESS = "203.0.113.9"
TRANSFER_REASON = "The data team runs this export job from next quarter on."


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


def signed_in_superuser(personas) -> Client:
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
