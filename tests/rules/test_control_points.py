"""Control-point owners (issue 11, part 4): per-system defaults (service, API, page,
admin-free), the path's own values overriding them, one resolution for the API,
exports, evidence pack and triage (constant queries), and the `missing_authority`
posture rule agreeing between its SQL and the path page."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from registry import services
from registry.models import AccessPath, AuditEvent, PolicyException, SystemControlPolicy
from registry.rules import errors
from registry.rules.control_points import authority_of, control_point_owners, load_authority
from registry.rules.errors import Invalid, NotAllowed, StaleVersion
from registry.rules.policies import current_policy
from registry.rules.posture import path_violations
from registry.selectors import path_list
from registry.selectors.exports import csv_lines
from registry.selectors.filters import ANY_VIOLATION
from registry.services.triage import triage_lookup
from tests.conftest import NOW

pytestmark = pytest.mark.django_db

RULE = PolicyException.Rule.MISSING_AUTHORITY


def set_policy(personas, system="aws", **teams):
    values = {"iam_team": None, "pam_team": None, "secops_team": None} | teams
    return services.system_control_policy_set(actor=personas.sam, system=system, **values, now=NOW)


def governed(personas, make_path, **overrides) -> AccessPath:
    """A high-risk path whose every control point has an owner of its own."""
    values = {
        "steward_team": personas.teams.platform,
        "iam_team": personas.teams.security,
        "pam_team": personas.teams.security,
        "secops_team": personas.teams.security,
    }
    return make_path(**(values | overrides))


# --- the service -----------------------------------------------------------------------


def test_security_sets_a_policy_audited_and_versioned(personas):
    policy = set_policy(personas, iam_team=personas.teams.data)
    assert (policy.system, policy.iam_team, policy.version) == ("aws", personas.teams.data, 1)
    created = AuditEvent.objects.get(action="control_policy.created")
    assert created.object_type == "systemcontrolpolicy"
    assert created.changes == {"system": [None, "aws"], "iam_team": [None, "data"]}
    policy = services.system_control_policy_set(
        actor=personas.sam, system="AWS", iam_team=personas.teams.data,
        pam_team=personas.teams.security, secops_team=None, expected_version=1, now=NOW,
    )  # fmt: skip
    assert policy.version == 2
    updated = AuditEvent.objects.get(action="control_policy.updated")
    assert updated.changes == {"pam_team": [None, "security"]}


def test_a_stale_version_or_a_non_reviewer_is_refused(personas):
    set_policy(personas)
    with pytest.raises(StaleVersion):
        services.system_control_policy_set(
            actor=personas.sam, system="aws", iam_team=personas.teams.data, pam_team=None,
            secops_team=None, expected_version=7,
        )  # fmt: skip
    for actor in (personas.lee, personas.payments_ci, personas.otto):
        with pytest.raises(NotAllowed):
            set_policy_as(actor, personas)
    with pytest.raises(Invalid) as exc:
        set_policy(personas, system="not a system!")
    assert exc.value.errors == {"system": [errors.CONTROL_POLICY_SYSTEM]}
    assert SystemControlPolicy.objects.get().version == 1


def set_policy_as(actor, personas):
    return services.system_control_policy_set(
        actor=actor, system="aws", iam_team=personas.teams.data, pam_team=None, secops_team=None
    )


# --- resolution ------------------------------------------------------------------------


def test_the_path_overrides_the_system_and_runtime_is_the_steward(personas, make_path):
    policy = set_policy(personas, iam_team=personas.teams.data, secops_team=personas.teams.security)
    path = make_path(pam_team=personas.teams.growth, iam_team=personas.teams.payments)
    owners = control_point_owners(path, policy)
    assert {p: (o.team.slug if o.team else None, o.source) for p, o in owners.items()} == {
        "iam": ("payments", "path"),
        "pam": ("growth", "path"),
        "runtime": (None, None),
        "secops": ("security", "system"),
    }
    path = make_path(steward_team=personas.teams.platform)
    owners = authority_of(AccessPath.objects.get(pk=path.pk)).owners
    assert (owners["iam"].team.slug, owners["iam"].source) == ("data", "system")
    assert (owners["runtime"].team.slug, owners["runtime"].source) == ("platform", "steward")


def test_loading_authority_costs_the_same_for_one_path_or_many(personas, make_path):
    set_policy(personas, iam_team=personas.teams.data)
    first = make_path(revoker_teams=[personas.teams.data])
    alone = [AccessPath.objects.get(pk=first.pk)]
    with CaptureQueriesContext(connection) as one:
        load_authority(alone)
    for _ in range(6):
        make_path(
            system="gcp", revoker_teams=[personas.teams.security], iam_team=personas.teams.growth
        )
    paths = list(AccessPath.objects.all())
    with CaptureQueriesContext(connection) as many:
        load_authority(paths)
    assert len(many.captured_queries) == len(one.captured_queries) <= 3


# --- the posture rule ---------------------------------------------------------------------


def flagged_by_page(path) -> bool:
    return RULE in {r.code for r in path_violations(path, now=NOW, policy=current_policy())}


def flagged_by_filter(personas, path) -> bool:
    qs = path_list(actor=personas.sam, filters={"posture": RULE}, now=NOW)
    return qs.filter(pk=path.pk).exists()


def agree(personas, path) -> bool:
    by_page, by_filter = flagged_by_page(path), flagged_by_filter(personas, path)
    assert by_page == by_filter, f"path_violations {by_page}, posture filter {by_filter}"
    return by_page


def test_missing_authority_page_and_filter_agree_case_by_case(personas, make_path):
    complete = governed(personas, make_path)
    assert not agree(personas, complete)
    for point in ("iam_team", "pam_team", "secops_team", "steward_team"):
        assert agree(personas, governed(personas, make_path, **{point: None})), point
    unapproved = governed(personas, make_path)
    AccessPath.objects.filter(pk=unapproved.pk).update(approved_by="")
    assert agree(personas, unapproved)
    # Low risk: not this rule's business.
    assert not agree(personas, make_path(risk_tier="low"))
    # Unowned discovered high-risk access: nobody approved it, so it is flagged.
    discovered = make_path(owner_team=None, justification="", ticket_url="")
    assert agree(personas, discovered)


def test_a_system_default_fills_the_gap_for_every_path_of_the_system(personas, make_path):
    gap = governed(personas, make_path, iam_team=None)
    other_system = governed(personas, make_path, iam_team=None, system="gcp")
    assert agree(personas, gap) and agree(personas, other_system)
    set_policy(personas, iam_team=personas.teams.security)
    assert not agree(personas, gap)
    assert agree(personas, other_system)
    assert flagged_by_filter(personas, other_system) == (
        other_system.pk
        in set(
            path_list(actor=personas.sam, filters={"posture": ANY_VIOLATION}, now=NOW).values_list(
                "pk", flat=True
            )
        )
    )


# --- the API -------------------------------------------------------------------------------


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def test_policy_api_reads_for_teams_writes_for_security(personas):
    set_policy(personas, iam_team=personas.teams.security)
    url = reverse("control-policy-detail", args=["aws"])
    pat, sam, otto = (client_for(getattr(personas.users, n)) for n in ("pat", "sam", "otto"))
    listed = pat.get(reverse("control-policy-list")).json()["results"]
    assert listed == [
        {
            "system": "aws", "iam_team": "security", "pam_team": None, "secops_team": None,
            "version": 1, "updated_at": "2026-11-22T12:00:00Z", "offers_workload_identity": False,
        }
    ]  # fmt: skip
    assert pat.get(url).status_code == 200
    assert otto.get(url).status_code == 404
    assert otto.get(reverse("control-policy-list")).json()["results"] == []
    refused = pat.put(url, {"iam_team": "data"}, format="json")
    assert refused.status_code == 403
    assert refused.json()["detail"] == errors.NOT_A_SECURITY_REVIEWER
    stale = sam.put(url, {"iam_team": "data"}, format="json", HTTP_IF_MATCH='W/"9"')
    assert stale.status_code == 412
    saved = sam.put(url, {"iam_team": "data"}, format="json", HTTP_IF_MATCH='W/"1"')
    assert saved.status_code == 200 and saved["ETag"] == 'W/"2"'
    assert saved.json()["iam_team"] == "data"
    created = sam.put(reverse("control-policy-detail", args=["github"]), {}, format="json")
    assert created.status_code == 200 and created.json()["system"] == "github"
    bad = sam.put(url, {"pam_team": "nope"}, format="json")
    assert bad.status_code == 400 and "pam_team" in json.dumps(bad.json())


def test_path_list_renders_authority_in_constant_queries(personas, make_path):
    set_policy(personas, iam_team=personas.teams.security)
    make_path(revoker_teams=[personas.teams.data], approved_by_team=personas.teams.security)
    sam = client_for(personas.users.sam)
    url = reverse("access-path-list")
    with CaptureQueriesContext(connection) as one:
        first = sam.get(url).json()["results"]
    assert first[0]["control_point_owners"]["iam"] == {"team": "security", "source": "system"}
    assert first[0]["revoker_teams"] == ["data"]
    for _ in range(5):
        make_path(system="gcp", revoker_teams=[personas.teams.security, personas.teams.data],
                  iam_team=personas.teams.growth, secops_team=personas.teams.data)  # fmt: skip
    with CaptureQueriesContext(connection) as many:
        assert len(sam.get(url).json()["results"]) == 6
    assert len(many.captured_queries) == len(one.captured_queries)


# --- exports, evidence pack and triage -------------------------------------------------------


def test_export_has_approval_revokers_and_effective_owners(personas, make_path):
    set_policy(personas, secops_team=personas.teams.security)
    path = make_path(revoker_teams=[personas.teams.data], iam_team=personas.teams.growth,
                     steward_team=personas.teams.platform)  # fmt: skip
    rows = list(
        csv.DictReader(io.StringIO("".join(csv_lines(path_list(actor=personas.sam, now=NOW)))))
    )
    (row,) = rows
    assert row["id"] == str(path.pk)
    assert (row["approved_by"], row["approved_by_team"], row["revoker_teams"]) == (
        "lee",
        "payments",
        "data",
    )
    assert (row["iam_team"], row["iam_owner"], row["secops_team"], row["secops_owner"]) == (
        "growth",
        "growth",
        "",
        "security",
    )
    assert (row["runtime_owner"], row["pam_owner"]) == ("platform", "")


def test_export_queries_do_not_grow_with_the_estate(personas, make_path):
    make_path(revoker_teams=[personas.teams.data])
    assert personas.sam.team_ids  # the actor's memberships: read once, before counting
    with CaptureQueriesContext(connection) as one:
        list(csv_lines(path_list(actor=personas.sam, now=NOW)))
    for _ in range(8):
        make_path(revoker_teams=[personas.teams.security], iam_team=personas.teams.growth)
    with CaptureQueriesContext(connection) as many:
        assert len(list(csv_lines(path_list(actor=personas.sam, now=NOW)))) == 10
    assert len(many.captured_queries) == len(one.captured_queries)


def test_triage_answers_approval_revokers_and_control_points(personas, make_path):
    set_policy(personas, pam_team=personas.teams.security)
    make_path(external_id="arn:aws:iam::1:user/leaky", revoker_teams=[personas.teams.data],
              steward_team=personas.teams.platform)  # fmt: skip
    (match,) = triage_lookup(actor=personas.pat, value="arn:aws:iam::1:user/leaky").data["matches"]
    assert match["authority_approved_by"]["by"] == "lee"
    assert [t["slug"] for t in match["revokers"]] == ["payments", "data"]
    owners = match["control_point_owners"]
    assert (owners["pam"]["slug"], owners["pam"]["source"]) == ("security", "system")
    assert owners["runtime"]["source"] == "steward" and owners["iam"] is None


# --- pages ---------------------------------------------------------------------------------


def test_path_page_shows_authority_with_the_system_default_marked(client, personas, make_path):
    set_policy(personas, iam_team=personas.teams.security)
    path = make_path(revoker_teams=[personas.teams.data])
    client.force_login(personas.users.pat)
    page = client.get(reverse("registry:path-detail", args=[path.pk])).content.decode()
    assert "Authority" in page and "default from system policy" in page
    assert "Data" in page.split("May also revoke")[1][:200]


def test_edit_page_sets_control_points_and_revokers(client, personas, make_path):
    path = make_path()
    client.force_login(personas.users.lee)
    edit = reverse("registry:path-edit", args=[path.pk])
    form = client.get(edit).context["form"]
    data = {name: form[name].value() or "" for name in form.fields}
    data |= {"version": path.version, "iam_team": "security", "revoker_teams": ["data"]}
    response = client.post(edit, data)
    assert response.status_code == 302, response.content.decode()[:500]
    path.refresh_from_db()
    assert path.iam_team == personas.teams.security
    assert list(path.revoker_teams.values_list("slug", flat=True)) == ["data"]


def test_policy_page_is_for_security_only(client, personas):
    url = reverse("registry:control-policies")
    client.force_login(personas.users.lee)
    assert client.get(url).status_code == 404
    assert client.post(url, {"system": "aws", "iam_team": "data"}).status_code == 404
    client.force_login(personas.users.sam)
    assert client.get(url).status_code == 200
    response = client.post(url, {"system": "aws", "iam_team": "data"})
    assert response.status_code == 302
    assert SystemControlPolicy.objects.get(system="aws").iam_team == personas.teams.data
    bad = client.post(url, {"system": "no good", "iam_team": "data"})
    assert bad.status_code == 400
