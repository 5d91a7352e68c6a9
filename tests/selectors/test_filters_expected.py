"""Every filter a reviewer expects on the shared FilterSet (lifetime, sign-off, created
via, approver, control-point owners, issuer, the merging team and proposing tool,
provenance), each matching one path and not another; and the
one rule that refuses an unknown parameter by name."""

from __future__ import annotations

import pytest

from registry import services
from registry.models import AccessPath
from registry.rules.errors import Invalid
from registry.selectors import path_list
from registry.selectors.filters import AccessPathFilterSet, unknown_parameters
from tests.conftest import NOW

pytestmark = pytest.mark.django_db


def names(personas, **filters) -> set[str]:
    return {p.name for p in path_list(actor=personas.sam, filters=filters, now=NOW)}


@pytest.fixture
def scene(make_path, personas):
    teams = personas.teams
    static = make_path(
        name="static-key",
        credential_lifetime=AccessPath.CredentialLifetime.STATIC,
        requires_human_signoff=True,
        interactive_login=True,
        created_via=AccessPath.CreatedVia.AI_AGENT,
        proposed_by="code-assistant 2.3",
        approved_by_team=teams.security,
        iam_team=teams.platform,
        pam_team=teams.security,
        secops_team=teams.security,
    )
    ephemeral = make_path(
        name="ephemeral-role",
        system="gcp",
        credential_lifetime=AccessPath.CredentialLifetime.EPHEMERAL,
        created_via=AccessPath.CreatedVia.PIPELINE,
        merged_by_team=teams.data,
        issuer_kind=AccessPath.IssuerKind.STS_ROLE,
        max_lease_seconds=900,
    )
    return static, ephemeral


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"credential_lifetime": ["static"]}, {"static-key"}),
        ({"credential_lifetime": ["ephemeral", "short_lived"]}, {"ephemeral-role"}),
        ({"requires_human_signoff": "true"}, {"static-key"}),
        ({"requires_human_signoff": "false"}, {"ephemeral-role"}),
        ({"interactive_login": "true"}, {"static-key"}),
        ({"created_via": ["ai_agent"]}, {"static-key"}),
        ({"approved_by_team": "security"}, {"static-key"}),
        ({"approved_by_team": "payments"}, {"ephemeral-role"}),
        ({"iam_team": "platform"}, {"static-key"}),
        ({"pam_team": "security"}, {"static-key"}),
        ({"secops_team": "security"}, {"static-key"}),
        ({"secops_team": "data"}, set()),
        ({"created_via": ["pipeline"]}, {"ephemeral-role"}),
        ({"issuer": "true"}, {"ephemeral-role"}),
        ({"issuer": "false"}, {"static-key"}),
        ({"issuer_kind": ["sts_role"]}, {"ephemeral-role"}),
        ({"issuer_kind": ["vault_role", "broker"]}, set()),
        ({"merged_by_team": "data"}, {"ephemeral-role"}),
        ({"merged_by_team": "payments"}, {"static-key"}),
        ({"proposed_by": "Code-Assistant 2.3"}, {"static-key"}),
        ({"has_provenance": "true"}, {"static-key", "ephemeral-role"}),
        ({"has_provenance": "false"}, set()),
    ],
)
def test_each_filter_matches_one_path_and_not_the_other(scene, personas, filters, expected):
    assert names(personas, **filters) == expected


def test_control_point_filter_follows_the_systems_default(scene, personas):
    """The effective owner, as pages and the API show it: the path's own team, else its
    system's default; a path's own value overrides the default."""
    services.system_control_policy_set(
        actor=personas.sam,
        system="gcp",
        iam_team=personas.teams.data,
        pam_team=None,
        secops_team=None,
        now=NOW,
    )
    services.system_control_policy_set(
        actor=personas.sam,
        system="aws",
        iam_team=personas.teams.data,
        pam_team=None,
        secops_team=None,
        now=NOW,
    )
    # ephemeral-role (gcp, no own IAM team) takes the default; static-key (aws) keeps
    # its own IAM team, platform.
    assert names(personas, iam_team="data") == {"ephemeral-role"}
    assert names(personas, iam_team="platform") == {"static-key"}


def test_an_unknown_team_or_choice_is_refused_by_name(scene, personas):
    with pytest.raises(Invalid) as refused:
        path_list(actor=personas.sam, filters={"iam_team": "nobody"}, now=NOW)
    assert set(refused.value.errors) == {"iam_team"}
    with pytest.raises(Invalid) as refused:
        path_list(actor=personas.sam, filters={"credential_lifetime": ["forever"]}, now=NOW)
    assert set(refused.value.errors) == {"credential_lifetime"}
    with pytest.raises(Invalid) as refused:
        path_list(actor=personas.sam, filters={"merged_by_team": "nobody"}, now=NOW)
    assert set(refused.value.errors) == {"merged_by_team"}
    with pytest.raises(Invalid) as refused:
        path_list(actor=personas.sam, filters={"issuer_kind": ["keychain"]}, now=NOW)
    assert set(refused.value.errors) == {"issuer_kind"}


def test_an_unknown_parameter_is_refused_by_name(scene, personas):
    with pytest.raises(Invalid) as refused:
        path_list(actor=personas.sam, filters={"credential_lifetme": "static"}, now=NOW)
    assert set(refused.value.errors) == {"credential_lifetme"}
    assert refused.value.errors["credential_lifetme"][0].startswith("Unknown filter")


def test_steering_parameters_are_accepted_and_filter_nothing(scene):
    filterset = AccessPathFilterSet(
        data={"cursor": "x", "credential_lifetime": ["static"]},
        queryset=AccessPath.objects.all(),
        steering={"cursor"},
    )
    assert filterset.is_valid(), filterset.errors
    assert [p.name for p in filterset.qs] == ["static-key"]


def test_unknown_parameters_names_only_the_unknown():
    found = unknown_parameters(["a", "b", "c"], filters=["a"], steering=["b"])
    assert list(found) == ["c"]
    assert "a, b" in found["c"][0]
