"""The dashboard's posture table names each rule's NIST CSF 2.0 and AI RMF ids."""

from __future__ import annotations

import pytest
from django.urls import reverse

from registry.rules.posture import RULES

pytestmark = pytest.mark.django_db


def test_each_rule_shows_its_framework_ids(client, personas, make_path):
    make_path(name="admin-role", privilege_scope="AdministratorAccess")
    client.force_login(personas.users.sam)
    html = client.get(reverse("registry:dashboard")).content.decode()
    for rule in RULES:
        ids = ", ".join(rule.nist_csf + rule.ai_rmf)
        assert f'<td class="small" data-rule-frameworks="{rule.code}">{ids}</td>' in html
    assert 'data-rule-frameworks="nhi5_overprivileged">PR.AA-05, MEASURE 2.7<' in html
    assert 'data-rule-count="nhi5_overprivileged">1<' in html
    assert reverse("registry:evidence-pack") in html  # security: the controls' figures


def test_a_team_reader_gets_no_link_to_the_security_only_figures(client, personas):
    client.force_login(personas.users.pat)
    html = client.get(reverse("registry:dashboard")).content.decode()
    assert 'data-rule-frameworks="no_expiry">PR.AA-01, ID.AM-08, MANAGE 2.4<' in html
    assert reverse("registry:evidence-pack") not in html
