"""Provenance of pipeline-made and AI-assisted access (issue 18, item 5): registering and
editing such a path requires the change, the merger and their team (and for an agent the
proposing tool); the merging team owns it when no owner is named; never unowned. Imports
record rows as found, and the posture rule MISSING_PROVENANCE flags them; the one rule
(rules/validation.provenance_missing) agrees with the posture's SQL test."""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import json

import pytest

from registry import services
from registry.importers.base import ImportRow
from registry.models import AccessPath, AuditEvent, PolicyException
from registry.rules import errors
from registry.rules.policies import current_policy
from registry.rules.posture import PROVENANCE_REQUIRED, provenance_missing_q, violation_q
from registry.rules.validation import change_url_error, credential_in, provenance_missing
from registry.services._common import importing
from registry.services.imports import paths_import
from tests.conftest import CHANGE_URL, JUSTIFICATION, NOW, TICKET, path_data
from tests.services.imports_helpers import estate, export, run, run_of

pytestmark = pytest.mark.django_db

Via = AccessPath.CreatedVia
Rule = PolicyException.Rule
PROVENANCE = ("change_url", "merged_by", "merged_by_team", "proposed_by")


def agent_data(personas, **overrides) -> dict:
    """An AI agent's registration with every provenance field left out."""
    data = path_data(
        name="support-triage-agent",
        kind=AccessPath.Kind.AGENT_CREDENTIAL,
        system="github",
        external_id="app-installation/55120",
        risk_tier=AccessPath.RiskTier.MEDIUM,
        owner_team=personas.teams.payments,
    )
    data.update(overrides)
    data["created_via"] = overrides.get("created_via", Via.AI_AGENT)
    return data


def counts() -> tuple[int, int]:
    return AccessPath.objects.count(), AuditEvent.objects.count()


# --- registering --------------------------------------------------------------------


def test_an_agent_path_without_provenance_is_refused_naming_each_field(personas):
    before = counts()
    with pytest.raises(errors.Invalid) as refused:
        services.path_register(actor=personas.system, data=agent_data(personas), now=NOW)
    assert set(refused.value.errors) == set(PROVENANCE)
    message = errors.PROVENANCE_REQUIRED.format(created_via="ai_agent")
    assert all(refused.value.errors[field] == [message] for field in PROVENANCE)
    assert counts() == before


def test_a_full_provenance_registers_and_is_audited(personas):
    data = agent_data(
        personas,
        change_url=CHANGE_URL,
        merged_by="lee",
        merged_by_team=personas.teams.payments,
        proposed_by="code-assistant 2.3",
    )
    path = services.path_register(actor=personas.system, data=data, now=NOW)
    path.refresh_from_db()
    assert (path.change_url, path.merged_by, path.proposed_by) == (
        CHANGE_URL,
        "lee",
        "code-assistant 2.3",
    )
    assert path.merged_by_team == personas.teams.payments
    event = AuditEvent.objects.get(path=path, action="access_path.registered")
    assert event.changes["change_url"] == [None, CHANGE_URL]
    assert event.changes["proposed_by"] == [None, "code-assistant 2.3"]


def test_the_owner_defaults_to_the_merging_team(personas):
    data = path_data(
        name="deployer",
        external_id="arn:aws:iam::123:role/deployer",
        risk_tier=AccessPath.RiskTier.MEDIUM,
        created_via=Via.PIPELINE,
        change_url=CHANGE_URL,
        merged_by="dana",
        merged_by_team=personas.teams.data,
    )
    assert "owner_team" not in data
    path = services.path_register(actor=personas.system, data=data, now=NOW)
    assert path.owner_team == personas.teams.data
    assert path.state == AccessPath.State.ACTIVE
    event = AuditEvent.objects.get(path=path, action="access_path.registered")
    assert event.changes["state"] == [None, "active"]


def test_the_merging_team_as_owner_still_needs_the_right_to_register_for_it(personas):
    """pat (payments) cannot make data own a path by naming it as the merging team."""
    data = path_data(
        external_id="arn:aws:iam::123:role/deployer",
        risk_tier=AccessPath.RiskTier.MEDIUM,
        created_via=Via.PIPELINE,
        change_url=CHANGE_URL,
        merged_by="dana",
        merged_by_team=personas.teams.data,
    )
    before = counts()
    with pytest.raises(errors.NotAllowed):
        services.path_register(actor=personas.pat, data=data, now=NOW)
    assert counts() == before


def test_pipeline_made_access_is_never_unowned(personas):
    data = path_data(
        external_id="arn:aws:iam::123:role/found",
        owner_team=None,
        justification="",
        ticket_url="",
        steward_team=personas.teams.platform,
        created_via=Via.PIPELINE,
        change_url=CHANGE_URL,
        merged_by="lee",
    )
    before = counts()
    with pytest.raises(errors.Invalid) as refused:
        services.path_register(actor=personas.system, data=data, now=NOW)
    assert set(refused.value.errors) == {"merged_by_team", "owner_team"}
    assert refused.value.errors["owner_team"] == [
        errors.PROVENANCE_OWNER_REQUIRED.format(created_via="pipeline")
    ]
    assert counts() == before


def test_a_pipeline_needs_no_proposing_tool(personas, make_path):
    path = make_path(created_via=Via.PIPELINE, proposed_by="")
    assert path.proposed_by == "" and provenance_missing(path) == ()


def test_people_and_discovery_need_no_provenance(make_path, personas):
    for via in (Via.HUMAN, Via.DISCOVERY, Via.IAC, Via.UNKNOWN):
        path = make_path(created_via=via)
        assert path.change_url == "" and provenance_missing(path) == ()


@pytest.mark.parametrize("field", ["merged_by", "proposed_by"])
def test_a_credential_in_a_provenance_field_is_refused(personas, field):
    token = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
    data = agent_data(
        personas,
        change_url=CHANGE_URL,
        merged_by="lee",
        merged_by_team=personas.teams.payments,
        proposed_by="code-assistant 2.3",
    )
    data[field] = token
    finding = credential_in(field, token)
    assert finding is not None
    before = counts()
    with pytest.raises(errors.Invalid) as refused:
        services.path_register(actor=personas.system, data=data, now=NOW)
    assert refused.value.errors == {field: [errors.LOOKS_LIKE_SECRET.format(kind=finding.kind)]}
    assert counts() == before


@pytest.mark.parametrize(
    ("link", "message"),
    [
        ("ftp://git.example.com/commit/1f2e", errors.CHANGE_URL_SCHEME),
        ("github.com/example/infra/pull/4", errors.CHANGE_URL_SCHEME),
        ("https://", errors.CHANGE_URL_INVALID),
    ],
)
def test_the_change_is_an_http_link(personas, make_path, link, message):
    assert change_url_error(link) == message
    before = counts()
    with pytest.raises(errors.Invalid) as refused:
        make_path(created_via=Via.PIPELINE, change_url=link)
    assert refused.value.errors == {"change_url": [message]}
    assert counts() == before


def test_an_inactive_merging_team_is_refused(personas, make_path):
    services.team_deactivate(
        actor=personas.system, team=personas.teams.growth, reason="Team disbanded.", now=NOW
    )
    with pytest.raises(errors.Invalid) as refused:
        make_path(created_via=Via.PIPELINE, merged_by_team=personas.teams.growth)
    assert refused.value.errors == {"merged_by_team": [errors.TEAM_INACTIVE]}


# --- editing ------------------------------------------------------------------------


def test_removing_the_provenance_of_a_pipeline_path_is_refused(personas, make_path):
    path = make_path(created_via=Via.AI_AGENT)
    with pytest.raises(errors.Invalid) as refused:
        services.path_update(
            actor=personas.lee, path=path, changes={"change_url": "", "proposed_by": ""}, now=NOW
        )
    assert set(refused.value.errors) == {"change_url", "proposed_by"}
    path.refresh_from_db()
    assert path.version == 1 and path.change_url == CHANGE_URL


def test_becoming_agent_made_asks_for_the_proposing_tool(personas, make_path):
    path = make_path(created_via=Via.PIPELINE)
    with pytest.raises(errors.Invalid) as refused:
        services.path_update(
            actor=personas.lee, path=path, changes={"created_via": Via.AI_AGENT}, now=NOW
        )
    assert refused.value.errors == {
        "proposed_by": [errors.PROVENANCE_REQUIRED.format(created_via="ai_agent")]
    }
    done = services.path_update(
        actor=personas.lee,
        path=path,
        changes={"created_via": Via.AI_AGENT, "proposed_by": "code-assistant 2.3"},
        now=NOW,
    )
    assert done.version == 2 and done.proposed_by == "code-assistant 2.3"


def test_an_unrelated_edit_of_a_path_recorded_without_provenance_is_fine(personas, make_path):
    """A row that predates the rule (or came from an import) is flagged, not frozen."""
    with importing():
        legacy = make_path(created_via=Via.PIPELINE, change_url="", merged_by="")
    updated = services.path_update(
        actor=personas.lee, path=legacy, changes={"consumers": "deploy job"}, now=NOW
    )
    assert updated.version == 2
    assert provenance_missing(updated) == ("change_url", "merged_by")


# --- the issuer's maximum -------------------------------------------------------------


def test_a_maximum_lease_needs_an_issuer(personas, make_path):
    with pytest.raises(errors.Invalid) as refused:
        make_path(max_lease_seconds=900)
    assert refused.value.errors == {"max_lease_seconds": [errors.MAX_LEASE_WITHOUT_ISSUER]}
    issuer = make_path(issuer_kind=AccessPath.IssuerKind.choices[0][0], max_lease_seconds=900)
    assert issuer.max_lease_seconds == 900
    with pytest.raises(errors.Invalid) as refused:
        services.path_update(actor=personas.lee, path=issuer, changes={"issuer_kind": ""}, now=NOW)
    assert refused.value.errors == {"max_lease_seconds": [errors.MAX_LEASE_WITHOUT_ISSUER]}
    with pytest.raises(errors.Invalid) as refused:
        services.path_update(
            actor=personas.lee, path=issuer, changes={"max_lease_seconds": 0}, now=NOW
        )
    assert set(refused.value.errors) == {"max_lease_seconds"}


# --- imports --------------------------------------------------------------------------


@pytest.mark.parametrize("owned", [True, False])  # one at a time; the bulk registration
def test_an_import_records_a_pipeline_row_without_provenance_and_posture_flags_it(personas, owned):
    owner = {"owner_team": personas.teams.payments, "justification": JUSTIFICATION,
             "ticket_url": TICKET} if owned else {}  # fmt: skip
    rows = [
        ImportRow(
            line=index + 2,
            data={
                "name": f"deployer-{index}",
                "kind": "ci_secret",
                "system": "github",
                "external_id": f"gh:deployer-{index}",
                "environment": "prod",
                "created_via": "pipeline",
                **owner,
            },
        )
        for index in range(3)
    ]
    report = paths_import(actor=personas.system, rows=rows, source_format="csv", now=NOW)
    assert report.errors == [] and report.counts["created"] == 3
    found = AccessPath.objects.filter(external_id__startswith="gh:deployer-")
    assert found.count() == 3
    assert {p.owner_team_id for p in found} == {personas.teams.payments.pk if owned else None}
    later = NOW + dt.timedelta(hours=1)
    rule = violation_q(Rule.MISSING_PROVENANCE, now=later, policy=current_policy())
    assert found.filter(rule).count() == 3


# --- one rule: the row test and the posture's SQL agree ---------------------------------


def test_the_row_test_agrees_with_the_posture_query(personas, make_path):
    """Every combination of created_via, each provenance field and the owner."""
    teams = personas.teams
    made = []
    vias = (Via.PIPELINE, Via.AI_AGENT, Via.HUMAN)
    for n, (via, change, merger, team, tool, owned) in enumerate(
        itertools.product(vias, *[(True, False)] * 5)
    ):
        with importing():
            made.append(
                make_path(
                    external_id=f"combo-{n}",
                    created_via=via,
                    change_url=CHANGE_URL if change else "",
                    merged_by="lee" if merger else "",
                    merged_by_team=teams.payments if team else None,
                    proposed_by="code-assistant" if tool else "",
                    owner_team=teams.payments if owned else None,
                    **({} if owned else {"justification": "", "ticket_url": ""}),
                )
            )
    flagged = set(
        AccessPath.objects.filter(
            provenance_missing_q(), created_via__in=PROVENANCE_REQUIRED
        ).values_list("pk", flat=True)
    )
    assert {p.pk for p in made if provenance_missing(p)} == flagged
    assert len(flagged) == 30 + 31 and len(made) == 3 * 32


# --- export, and the registry format reading it back -------------------------------------


@pytest.mark.usefixtures("clock")
@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_the_fields_round_trip_through_the_export(personas, make_path, tmp_path, fmt):
    path = make_path(
        created_via=Via.AI_AGENT,
        merged_by_team=personas.teams.data,
        issuer_kind=AccessPath.IssuerKind.BROKER,
        max_lease_seconds=600,
        mfa_active=False,
    )
    exported = export(fmt, tmp_path / f"estate.{fmt}")
    if fmt == "json":
        (record,) = json.loads(exported.read_text())
    else:
        (record,) = csv.DictReader(io.StringIO(exported.read_text()))
    wanted = {
        "change_url": CHANGE_URL, "merged_by": "lee", "merged_by_team": "data",
        "proposed_by": "code-assistant 2.3", "issuer_kind": "broker",
        "max_lease_seconds": 600, "mfa_active": False,
    }  # fmt: skip
    if fmt == "csv":
        wanted = {key: str(value) for key, value in wanted.items()}
    assert {key: record[key] for key in wanted} == wanted
    before = estate()
    output, _ = run(exported, "--format", fmt)
    assert run_of(output).counts == {"unchanged": 1}
    assert estate()["paths"] == before["paths"] == {path.pk: 1}
    # Changed in the file, the import records the change like any other field.
    record["merged_by"] = "dana"
    changed = tmp_path / f"changed.{fmt}"
    if fmt == "json":
        changed.write_text(json.dumps([record]))
    else:
        with changed.open("w", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=list(record))
            writer.writeheader()
            writer.writerow(record)
    output, _ = run(changed, "--format", fmt)
    assert run_of(output).counts == {"updated": 1}
    assert AccessPath.objects.get(pk=path.pk).merged_by == "dana"
