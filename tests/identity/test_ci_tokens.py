"""Pipelines authenticate with their CI platform's OIDC token: a trust rule admits the
token as its team's integration; every other token is refused and audited."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from registry.models import AccessPath, ApiToken, AuditEvent, CiTrustRule
from registry.rules import errors
from registry.rules.errors import Invalid, NotAllowed
from registry.services import ci_trust
from registry.services.ci_trust import ci_rule_create, ci_rule_retire
from tests.conftest import TICKET, path_data

AUDIENCE = "nhi-registry-test"
GITHUB_CLAIMS = {
    "aud": AUDIENCE,
    "sub": "repo:acme/payments-api:environment:prod",
    "repository": "acme/payments-api",
    "repository_owner": "acme",
    "ref": "refs/heads/main",
    "environment": "prod",
    "run_id": "4242",
    "sha": "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567",
}


@pytest.fixture
def ci_settings(settings, issuer):
    settings.NHI_CI_OIDC_ISSUERS = [issuer.url]
    settings.NHI_CI_OIDC_AUDIENCE = AUDIENCE
    return settings


@pytest.fixture
def rule(personas, issuer, ci_settings):
    return ci_rule_create(
        actor=personas.sam,
        team=personas.teams.payments,
        name="payments deploys",
        issuer=issuer.url,
        conditions={"repository": "acme/payments-api", "ref": "refs/heads/main"},
        scopes=["read", "write"],
        ticket_url=TICKET,
        expires_in_days=90,
    )


def client(token: str) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return api


def register_body(**overrides) -> dict:
    return path_data(
        name="payments-api deploy role",
        external_id="arn:aws:iam::123:role/payments-api-deploy",
        owner_team="payments",
        created_via="pipeline",
        created_by_ref="https://github.com/acme/payments-api/actions/runs/4242",
        artifact_ref="acme/payments-api@0a1b2c3d4e5f60718293a4b5c6d7e8f901234567",
        expires_at=(timezone.now() + dt.timedelta(days=30)).isoformat(),
        **overrides,
    )


def denials() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action="api_token.denied").order_by("seq"))


def test_a_pipeline_registers_a_path_with_its_ci_token_and_no_registry_secret(issuer, rule):
    response = client(issuer.sign(GITHUB_CLAIMS)).post(
        "/api/v1/access-paths/register/", register_body(), format="json"
    )
    assert response.status_code == 201, response.content
    path = AccessPath.objects.get(pk=response.json()["id"])
    assert path.owner_team.slug == "payments"
    assert path.created_by_ref.endswith("/actions/runs/4242")
    assert path.artifact_ref.endswith("0a1b2c3d4e5f60718293a4b5c6d7e8f901234567")
    event = AuditEvent.objects.filter(path=path, action="access_path.registered").get()
    assert event.actor_label == "token CI: payments deploys (payments)"
    me = client(issuer.sign(GITHUB_CLAIMS)).get("/api/v1/me/").json()
    assert me["token"]["team"] == "payments" and me["token"]["scopes"] == ["read", "write"]


def test_the_rule_is_an_access_path_owned_by_its_team(rule):
    path = rule.grant.access_path
    assert path.owner_team == rule.team and path.kind == AccessPath.Kind.WORKLOAD_IDENTITY
    assert path.expires_at == rule.grant.expires_at and path.next_review_at is not None
    assert "acme/payments-api" in path.justification
    created = AuditEvent.objects.get(action="ci_trust_rule.created")
    assert created.path_id == path.pk and created.actor_label == "sam"


def test_the_grant_has_no_secret_anyone_holds(rule):
    # The stored hash is of a value that was never returned: no token presents it.
    assert ApiToken.objects.filter(pk=rule.grant.pk, token_hash=rule.grant.token_hash).exists()
    assert not hasattr(rule, "secret")


@pytest.mark.parametrize(
    ("change", "why", "message"),
    [
        ({"aud": "someone-else"}, "ci_wrong_audience", "The token is meant for another audience."),
        (
            {"exp": int((timezone.now() - dt.timedelta(minutes=5)).timestamp())},
            "ci_expired",
            "The token has expired.",
        ),
        (
            {"nbf": int((timezone.now() + dt.timedelta(minutes=10)).timestamp())},
            "ci_not_yet_valid",
            "The token is not valid yet.",
        ),
    ],
)
def test_invalid_tokens_are_401_and_audited(issuer, rule, change, why, message):
    response = client(issuer.sign(GITHUB_CLAIMS | change)).get("/api/v1/access-paths/")
    assert response.status_code == 401
    assert response.json()["detail"] == message
    [denial] = denials()
    assert denial.changes["why"] == [None, why] and denial.reason == message
    assert denial.changes["token"] == [None, "CI OIDC token"]


def test_a_token_from_another_issuer_is_refused_without_contacting_it(issuer, rule):
    token = issuer.sign(GITHUB_CLAIMS | {"iss": "https://attacker.example"})
    issuer.fetches.clear()
    response = client(token).get("/api/v1/access-paths/")
    assert response.status_code == 401
    assert response.json()["detail"] == ci_trust.ISSUER_NOT_TRUSTED
    assert issuer.fetches == []
    assert denials()[0].changes["why"] == [None, "ci_wrong_issuer"]


def test_a_bad_signature_is_refused(issuer, rule):
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    response = client(issuer.sign(GITHUB_CLAIMS, key=stranger)).get("/api/v1/access-paths/")
    assert response.status_code == 401
    assert response.json()["detail"] == "The token's signature does not verify."
    assert denials()[0].changes["why"] == [None, "ci_bad_signature"]


@pytest.mark.parametrize("alg", ["HS256", "none"])
def test_symmetric_and_unsigned_tokens_are_refused(issuer, rule, alg):
    key = "a-shared-secret-that-is-long-enough-for-hs256" if alg == "HS256" else ""
    token = issuer.sign(GITHUB_CLAIMS, key=key, alg=alg)
    response = client(token).get("/api/v1/access-paths/")
    assert response.status_code == 401
    assert denials()[0].changes["why"] == [None, "ci_algorithm"]


def test_a_valid_token_no_rule_matches_is_403(issuer, rule):
    other_repo = GITHUB_CLAIMS | {"repository": "acme/growth-web"}
    response = client(issuer.sign(other_repo)).get("/api/v1/access-paths/")
    assert response.status_code == 403
    assert response.json()["detail"] == ci_trust.NO_MATCHING_RULE
    [denial] = denials()
    assert denial.changes["why"] == [None, "ci_no_rule"]
    feature_branch = GITHUB_CLAIMS | {"ref": "refs/heads/feature"}
    assert client(issuer.sign(feature_branch)).get("/api/v1/access-paths/").status_code == 403


def test_a_rotated_key_is_fetched_once_when_its_kid_is_unknown(issuer, rule):
    assert client(issuer.sign(GITHUB_CLAIMS)).get("/api/v1/me/").status_code == 200
    issuer.rotate()
    issuer.fetches.clear()
    # The cached set lacks the new kid: within the refetch pause it is refused...
    assert client(issuer.sign(GITHUB_CLAIMS)).get("/api/v1/me/").status_code == 401
    assert issuer.fetches == []


def test_a_rotated_key_is_fetched_after_the_pause(issuer, rule, monkeypatch):
    monkeypatch.setattr("registry.runtime.oidc_keys.REFETCH_AFTER_SECONDS", 0)
    assert client(issuer.sign(GITHUB_CLAIMS)).get("/api/v1/me/").status_code == 200
    issuer.rotate()
    issuer.fetches.clear()
    assert client(issuer.sign(GITHUB_CLAIMS)).get("/api/v1/me/").status_code == 200
    assert issuer.fetches == ["/jwks"]


def test_read_only_rules_cannot_write(issuer, rule, personas):
    ci_rule_retire(actor=personas.sam, rule=rule, reason="replaced by a read-only rule")
    ci_rule_create(
        actor=personas.sam,
        team=personas.teams.payments,
        name="payments reads",
        issuer=issuer.url,
        conditions={"repository": "acme/payments-api"},
        scopes=["read"],
        ticket_url=TICKET,
    )
    token = issuer.sign(GITHUB_CLAIMS)
    assert client(token).get("/api/v1/access-paths/").status_code == 200
    response = client(token).post("/api/v1/access-paths/register/", register_body(), format="json")
    assert response.status_code == 403
    assert response.json()["detail"] == "This token lacks the 'write' scope."


def test_retiring_a_rule_refuses_its_pipelines_at_once(issuer, rule, personas):
    token = issuer.sign(GITHUB_CLAIMS)
    assert client(token).get("/api/v1/me/").status_code == 200
    ci_rule_retire(actor=personas.sam, rule=rule, reason="The repository moved.")
    rule.refresh_from_db()
    assert rule.retired_at is not None
    assert rule.grant.access_path.state == AccessPath.State.REVOKED
    assert client(token).get("/api/v1/me/").status_code == 403
    assert AuditEvent.objects.filter(
        action="ci_trust_rule.retired", reason="The repository moved."
    ).exists()


def test_only_security_manages_rules(personas, issuer, ci_settings):
    with pytest.raises(NotAllowed):
        ci_rule_create(
            actor=personas.lee,
            team=personas.teams.payments,
            name="self-service",
            issuer=issuer.url,
            conditions={"repository": "acme/payments-api"},
            scopes=["read"],
            ticket_url=TICKET,
        )
    assert not CiTrustRule.objects.exists()


@pytest.mark.parametrize(
    ("field", "overrides", "message"),
    [
        (
            "issuer",
            {"issuer": "https://gitlab.example"},
            "This issuer is not in NHI_CI_OIDC_ISSUERS",
        ),
        ("conditions", {"conditions": {"ref": "refs/heads/main"}}, "Pin the repository or project"),
        # A pattern is a family of repositories, not a pin: `acme*/pay` matches
        # `acmeattacker/pay`, and `*` every repository on the platform.
        ("conditions", {"conditions": {"repository": "*"}}, "Pin the repository or project"),
        ("conditions", {"conditions": {"repository_id": "12?4"}}, "Pin the repository or project"),
        (
            "conditions",
            {"conditions": {"repository": "acme*/pay", "ref": "refs/heads/main"}},
            "Pin the repository or project",
        ),
        (
            "conditions",
            {"conditions": {"actor": "octocat", "repository": "a/b"}},
            "Claims a rule may test",
        ),
        ("conditions", {"conditions": ["acme/payments-api"]}, "Give an object of claim name"),
        ("scopes", {"scopes": ["admin"]}, errors.TOKEN_SCOPES),
    ],
)
def test_bad_rules_name_the_field(personas, issuer, ci_settings, field, overrides, message):
    data = {
        "actor": personas.sam,
        "team": personas.teams.payments,
        "name": "deploys",
        "issuer": issuer.url,
        "conditions": {"repository": "acme/payments-api"},
        "scopes": ["read"],
        "ticket_url": TICKET,
    } | overrides
    with pytest.raises(Invalid) as refused:
        ci_rule_create(**data)
    assert refused.value.field == field and refused.value.message.startswith(message)
    assert not CiTrustRule.objects.exists() and not AccessPath.objects.exists()


def test_registry_tokens_still_work_beside_ci_tokens(rule, personas, ci_settings):
    from registry.services.tokens import token_create

    _, secret = token_create(
        actor=personas.lee, name="legacy", scopes=["read"], team=personas.teams.payments
    )
    assert client(secret).get("/api/v1/me/").status_code == 200


def test_the_management_command_creates_and_retires(personas, issuer, ci_settings, capsys):
    call_command(
        "ci_trust_rule",
        "create",
        "--as",
        "sam",
        "--team",
        "payments",
        "--name",
        "deploys",
        "--issuer",
        issuer.url,
        "--condition",
        "repository=acme/payments-api",
        "--condition",
        "environment=prod",
        "--scopes",
        "read,write",
        "--ticket",
        TICKET,
        "--days",
        "30",
    )
    rule = CiTrustRule.objects.get()
    assert rule.conditions == {"environment": "prod", "repository": "acme/payments-api"}
    call_command("ci_trust_rule", "list")
    assert "deploys" in capsys.readouterr().out
    call_command("ci_trust_rule", "retire", str(rule.pk), "--as", "sam", "--reason", "done")
    rule.refresh_from_db()
    assert rule.retired_at is not None
