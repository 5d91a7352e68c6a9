"""What no field can hold: a NUL character, an unpaired surrogate, nesting without end.

Every writable field of every JSON operation in the API's own schema is sent each of
them; the answer is a 400 naming the field (or the refusal the caller gets anyway for
that object, never a 500), and nothing changes. Query strings and form posts, on pages
and on the API, are refused the same way (registry.web.middleware.UnsafeInputMiddleware).
"""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from registry.models import AccessPath, AuditEvent

pytestmark = pytest.mark.django_db

BAD_VALUES = {"nul": "billing\x00export", "surrogate": "billing\ud800export"}


def json_operations() -> list[tuple[str, str, list[str]]]:
    """(method, path template, writable properties) of every operation with a JSON body."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema["components"]["schemas"]
    found = []
    for template, item in schema["paths"].items():
        for method, operation in item.items():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if not body:
                continue
            ref = body["schema"].get("$ref", "")
            properties = components.get(ref.rsplit("/", 1)[-1], {}).get("properties", {})
            writable = [p for p, spec in properties.items() if not spec.get("readOnly")]
            if writable:
                found.append((method, template, writable))
    return found


def concrete(template: str, path: AccessPath) -> str:
    """The template with real objects: a path, a team slug, and 1 for anything else."""
    url = template.replace("{id}", str(path.pk)).replace("{slug}", "payments")
    return re.sub(r"\{[^}]+\}", "1", url)


def test_every_writable_field_refuses_nul_and_surrogates(personas, path):
    client = APIClient()
    client.force_authenticate(personas.users.sam)  # security: may reach the most
    operations = json_operations()
    assert len(operations) >= 15
    named = total = 0
    before = (AccessPath.objects.count(), AuditEvent.objects.count())
    for method, template, fields in operations:
        for field in fields:
            for bad in BAD_VALUES.values():
                total += 1
                body = json.dumps({field: bad})
                response = getattr(client, method)(
                    concrete(template, path), body, content_type="application/json"
                )
                where = f"{method.upper()} {template} {field!r}"
                assert response.status_code < 500, where
                if response.status_code == 400:
                    assert field in response.json().get("errors", {}), where
                    named += 1
    # Some operations refuse first for their own reasons (an object that is not
    # there, a state that does not allow it): those answer as they always do.
    assert named >= total * 0.8, (named, total)
    # Refusals are only ever recorded for 403/409; nothing else changed.
    assert AccessPath.objects.count() == before[0]


def test_keys_and_nested_values_are_named():
    from registry.rules.validation import unsafe_input_errors

    errors = unsafe_input_errors(
        {"identifiers": [{"kind": "key_id", "value": "AKIA\x00"}], "ok": "fine", "k\x00": 1}
    )
    assert set(errors) == {"identifiers[0].value", "non_field_errors"}


def test_nesting_without_end_is_a_400_not_a_crash(personas):
    client = APIClient()
    client.force_authenticate(personas.users.sam)
    deep = "[" * 100_000 + "]" * 100_000
    response = client.post("/api/v1/access-paths/", deep, content_type="application/json")
    assert response.status_code == 400
    assert "Nested deeper" in response.json()["detail"]
    moderate = json.dumps({"name": json.loads("[" * 40 + "]" * 40)})
    response = client.post("/api/v1/access-paths/", moderate, content_type="application/json")
    assert response.status_code == 400
    assert "Nested deeper" in json.dumps(response.json()["errors"])


def test_query_strings_are_refused_on_the_api_and_pages(personas):
    # (A surrogate cannot travel in a URL: its bytes decode to U+FFFD, harmless.)
    bad = BAD_VALUES["nul"]
    api = APIClient()
    api.force_authenticate(personas.users.sam)
    response = api.get("/api/v1/access-paths/", {"q": bad})
    assert response.status_code == 400
    assert response.json()["errors"] == {"q": [response.json()["detail"]]}
    page = Client()
    page.force_login(personas.users.sam)
    response = page.get("/paths/", {"owner_team": bad})
    assert response.status_code == 400
    assert "owner_team" in response.content.decode()


def test_form_posts_are_refused_with_the_field_named(personas, path):
    page = Client()
    page.force_login(personas.users.pat)
    before = path.version
    response = page.post(f"/paths/{path.pk}/revoke/", {"reason": "leaked\x00", "version": 1})
    assert response.status_code == 400
    assert "reason" in response.content.decode()
    path.refresh_from_db()
    assert path.version == before


def test_no_text_field_takes_megabytes(personas, path):
    from registry.rules.validation import MAX_TEXT_LENGTH

    api = APIClient()
    api.force_authenticate(personas.users.lee)  # payments' lead: may edit the path
    huge = "The nightly export reads invoices. " * 70_000  # ~2.4 MB
    response = api.patch(
        f"/api/v1/access-paths/{path.pk}/",
        json.dumps({"justification": huge}),
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "justification" in response.json()["errors"]
    assert f"{MAX_TEXT_LENGTH:,}" in response.json()["detail"]
    page = Client()
    page.force_login(personas.users.lee)
    response = page.post(f"/paths/{path.pk}/revoke/", {"reason": huge, "version": 1})
    assert response.status_code == 400
    path.refresh_from_db()
    assert huge not in path.justification
    assert len(str(AuditEvent.objects.values_list("changes", flat=True))) < 100_000
