"""The path page and the register page show each broken rule's framework ids, fix and
enforcement level, and the policy's verdict (issue 18); registering what the policy
refuses is refused on the page too, nothing saved."""

from __future__ import annotations

import pytest
from django.urls import reverse

from registry import services
from registry.models import AccessPath, AuditEvent
from registry.rules import errors
from registry.rules.posture import RULE_BY_CODE
from tests.conftest import path_data
from tests.web.helpers import nothing_changes, text
from tests.web.test_path_register import CHECK, NEW, form

pytestmark = pytest.mark.django_db


@pytest.fixture
def pat(client, personas):
    client.force_login(personas.users.pat)
    return client


def test_the_path_page_shows_frameworks_fixes_levels_and_the_verdict(pat, personas):
    path = services.path_register(
        actor=personas.system,
        data=path_data(
            owner_team=personas.teams.payments,
            kind=AccessPath.Kind.AGENT_CREDENTIAL,
            credential_lifetime=AccessPath.CredentialLifetime.STATIC,
            privilege_scope="AdministratorAccess",
            external_id="agent:found",
        ),
        enforce=False,  # found access, as an import records it
    )
    page = text(pat.get(reverse("registry:path-detail", args=[path.pk])))
    static = RULE_BY_CODE["nhi7_agent_static"]
    assert static.fix in page
    assert "Frameworks: NHI7 · PR.AA-01 · GOVERN 3.2 · MEASURE 2.7" in page
    assert "Refused by policy" in page and "Needs an approved exception" in page
    assert "Policy verdict: refused." in page


def test_the_live_check_gives_levels_frameworks_and_the_verdict(pat):
    with nothing_changes():
        page = text(pat.post(CHECK, form(privilege_scope="AdministratorAccess")))
    assert "Ready to register." in page
    assert "Frameworks: NHI5 · PR.AA-05 · MEASURE 2.7" in page
    assert RULE_BY_CODE["nhi5_overprivileged"].fix in page
    assert "Needs an approved exception" in page and "Policy verdict: needs approval." in page
    with nothing_changes():
        refused = text(
            pat.post(
                CHECK,
                form(kind=AccessPath.Kind.AGENT_CREDENTIAL, credential_lifetime="static"),
            )
        )
    assert "The policy would refuse it." in refused and "Policy verdict: refused." in refused


def test_registering_what_the_policy_refuses_is_refused_and_saves_nothing(pat):
    paths, events = AccessPath.objects.count(), AuditEvent.objects.count()
    response = pat.post(
        NEW, form(kind=AccessPath.Kind.AGENT_CREDENTIAL, credential_lifetime="static")
    )
    assert response.status_code == 422
    assert errors.POLICY_REFUSED.format(rules="nhi7_agent_static") in text(response)
    assert (AccessPath.objects.count(), AuditEvent.objects.count()) == (paths, events)
