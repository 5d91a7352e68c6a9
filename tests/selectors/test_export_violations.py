"""The exports' `violations` and `framework_ids` columns (issue 18): each path's broken,
unwaived posture rules from its stored facts while they are valid, classified exactly
when they ran out or were computed under other rules (selectors/violations.py)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
from django.utils import timezone

from registry import services
from registry.models import PathFacts, PolicyException, TallyVersion
from registry.rules.facts import RULE_BITS
from registry.selectors import path_list
from registry.selectors.exports import COLUMNS, csv_lines, export_rows, json_chunks
from tests.conftest import NOW

pytestmark = pytest.mark.django_db

ADMIN = "AdministratorAccess"
VIOLATIONS, FRAMEWORKS = COLUMNS.index("violations"), COLUMNS.index("framework_ids")


def exported(personas) -> dict[str, list]:
    rows = export_rows(path_list(actor=personas.sam, now=NOW))
    return {row[0]: row for row in rows}


@pytest.fixture
def admin(make_path):
    return make_path(name="admin-role", privilege_scope=ADMIN, risk_tier="medium")


def test_csv_and_json_carry_violations_and_framework_ids(personas, admin, make_path):
    plain = make_path(name="plain", risk_tier="medium", privilege_scope="repo:read")
    rows = exported(personas)
    assert rows[str(admin.pk)][VIOLATIONS] == ["nhi5_overprivileged"]
    assert rows[str(admin.pk)][FRAMEWORKS] == ["NHI5", "PR.AA-05", "MEASURE 2.7"]
    assert rows[str(plain.pk)][VIOLATIONS] == [] and rows[str(plain.pk)][FRAMEWORKS] == []
    text = "".join(csv_lines(path_list(actor=personas.sam, now=NOW)))
    records = {r["id"]: r for r in csv.DictReader(io.StringIO(text, newline=""))}
    assert records[str(admin.pk)]["violations"] == "nhi5_overprivileged"
    assert records[str(admin.pk)]["framework_ids"] == "NHI5; PR.AA-05; MEASURE 2.7"
    documents = json.loads("".join(json_chunks(path_list(actor=personas.sam, now=NOW))))
    by_id = {d["id"]: d for d in documents}
    assert by_id[str(admin.pk)]["violations"] == ["nhi5_overprivileged"]
    assert by_id[str(admin.pk)]["framework_ids"] == ["NHI5", "PR.AA-05", "MEASURE 2.7"]


def test_valid_stored_facts_are_read_and_run_out_ones_classified_now(personas, admin):
    later = timezone.now() + dt.timedelta(days=1)
    # Stored facts still valid are what the export says (here made to say NHI10)...
    PathFacts.objects.filter(path_id=admin.pk).update(
        flags=RULE_BITS["nhi10_human_use"], valid_until=later
    )
    assert exported(personas)[str(admin.pk)][VIOLATIONS] == ["nhi10_human_use"]
    # ...facts that ran out are classified at the export's moment, from the rules.
    PathFacts.objects.filter(path_id=admin.pk).update(valid_until=timezone.now())
    assert exported(personas)[str(admin.pk)][VIOLATIONS] == ["nhi5_overprivileged"]
    # So is every path while the stored facts were computed under other rules or policy.
    PathFacts.objects.filter(path_id=admin.pk).update(valid_until=later)
    TallyVersion.objects.update(fingerprint="other rules")
    assert exported(personas)[str(admin.pk)][VIOLATIONS] == ["nhi5_overprivileged"]


def test_a_waived_rule_is_not_exported(personas, admin):
    now = timezone.now()
    exception = services.exception_request(
        actor=personas.pat,
        path=admin,
        rule=PolicyException.Rule.NHI5_OVERPRIVILEGED,
        reason="The vendor API offers no narrower scope until its next release.",
        expires_at=now + dt.timedelta(days=30),
        now=now,
    )
    services.exception_approve(actor=personas.sam, exception=exception, reason="", now=now)
    assert exported(personas)[str(admin.pk)][VIOLATIONS] == []
