"""The live API against its own OpenAPI schema (/api/schema/), with Schemathesis.

Every operation in the schema is called with generated input (valid and invalid) as
two callers: a security reviewer's personal token and the payments team's integration
token (write scope), over a small estate (paths in several statuses, a pending claim,
transfer and exception). Path parameters, team slugs and If-Match versions are often
swapped for real ones, so retrieve and the transition actions reach real objects and
their refusals (403/409/412), not only 404s and 400s.

Every response is checked: no 5xx, a documented status code and content type, and a
body and headers that match the schema. Generation is derandomized and bounded
(MAX_EXAMPLES), so a run is reproducible and takes a minute or two on a 2-core
machine; the number of examples is printed ("schemathesis examples: N").

The application bugs this test found (and that were then fixed) are kept in
REGRESSIONS with the exact requests that showed them; those requests are replayed on
every run and must pass every check.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
import schemathesis
from django.core.cache import caches
from django.utils import timezone
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import Failure, FailureGroup

from registry import services
from registry.models import AccessPath, AuditEvent, Claim, Notification, PolicyException, Transfer
from registry.rules.actors import Actor
from registry.services.tokens import REGISTRY_SYSTEM
from tests.conftest import JUSTIFICATION, TICKET

pytestmark = pytest.mark.django_db(transaction=True)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Examples per operation, per caller and generation mode: 40 per operation and caller.
MAX_EXAMPLES = {GenerationMode.POSITIVE: 30, GenerationMode.NEGATIVE: 10}
TEAM_SLUGS = ["security", "platform", "payments", "data", "growth"]
REGISTRATIONS = ("POST /api/v1/access-paths/", "POST /api/v1/access-paths/register/")
PLAUSIBLE = {
    "reason": "The payments nightly jobs run under this identity.",
    "justification": JUSTIFICATION,
    "ticket_url": TICKET,
    "note": "Checked the scope against the job's manifest.",
    "review_interval_days": 30,
    "rotation_days": 90,
}


@dataclass(frozen=True)
class Regression:
    """A bug this test found, and the exact requests that showed it: (method, path
    template, case arguments built from the seeded paths)."""

    summary: str
    reproduce: list[tuple[str, str, Callable[[dict], dict]]]


def _unowned(paths: dict) -> dict:
    return {"path_parameters": {"id": str(paths["unowned"].pk)}}


REGRESSIONS = {
    "datetime-filter-500": Regression(
        "GET access-paths/ answered 500 for a date filter with a UTC offset PostgreSQL "
        "refuses or a date that overflows in UTC",
        [
            ("GET", "/api/v1/access-paths/", lambda paths, v=value, f=f: {"query": {f: v}})
            for value in (
                "2027-01-01T00:00:00-20:13",
                "9999-12-31T23:59:59-05:00",
                "0001-01-01T00:00:00+05:00",
            )
            for f in ("expires_before", "expires_after", "review_due_before")
        ],
    ),
    "null-owner-and-steward-and-blank-ticket": Regression(
        "an unowned path's null owner_team/steward_team and blank ticket_url broke the schema",
        [("GET", "/api/v1/access-paths/{id}/", _unowned)],
    ),
    "null-team-parent": Regression(
        "Team.parent is null for top-level teams; the schema said string",
        [("GET", "/api/v1/teams/{slug}/", lambda paths: {"path_parameters": {"slug": "data"}})],
    ),
    "members-not-paginated": Regression(
        "teams/{slug}/members/ returned a plain list; the schema said a paginated object",
        [
            (
                "GET",
                "/api/v1/teams/{slug}/members/",
                lambda paths: {"path_parameters": {"slug": "payments"}},
            )
        ],
    ),
    "invalid-cursor-404": Regression(
        "an invalid cursor answered an undocumented 404",
        [
            ("GET", "/api/v1/access-paths/", lambda paths: {"query": {"cursor": "not-a-cursor"}}),
            ("GET", "/api/v1/exceptions/", lambda paths: {"query": {"cursor": "not-a-cursor"}}),
        ],
    ),
    "exceptions-errors-undocumented": Regression(
        "exceptions/{id}/ documented only 200",
        [("GET", "/api/v1/exceptions/{id}/", lambda paths: {"path_parameters": {"id": 999999}})],
    ),
    "html-404": Regression(
        "an id the URL pattern does not match got Django's HTML 404, not the JSON error body",
        [
            (
                "GET",
                "/api/v1/audit-events/{seq}/",
                lambda paths: {"path_parameters": {"seq": "latest"}},
            )
        ],
    ),
}


@dataclass
class Estate:
    """Real objects to aim generated requests at."""

    paths: list[str] = field(default_factory=list)
    claims: list[int] = field(default_factory=list)
    transfers: list[int] = field(default_factory=list)
    exceptions: list[int] = field(default_factory=list)
    seqs: list[str] = field(default_factory=list)
    notifications: list[int] = field(default_factory=list)

    def refresh(self) -> None:
        """Objects the generated calls created become targets too. The callers' own
        tokens are access paths as well, but never targets: revoking one (which the
        reviewer may do) would turn every later call into a 401."""
        paths = AccessPath.objects.exclude(system=REGISTRY_SYSTEM).order_by("created_at", "id")
        self.paths = [str(pk) for pk in paths.values_list("pk", flat=True)]
        self.claims = list(Claim.objects.order_by("pk").values_list("pk", flat=True))
        self.transfers = list(Transfer.objects.order_by("pk").values_list("pk", flat=True))
        self.exceptions = list(PolicyException.objects.order_by("pk").values_list("pk", flat=True))
        seqs = AuditEvent.objects.order_by("seq").values_list("seq", flat=True)[:50]
        self.seqs = [str(seq) for seq in seqs]
        notifications = Notification.objects.order_by("pk").values_list("pk", flat=True)[:50]
        self.notifications = list(notifications)

    def ids_for(self, path: str, name: str) -> list:
        if name == "slug":
            return TEAM_SLUGS
        if name == "seq":
            return self.seqs
        for prefix, ids in (
            ("/api/v1/access-paths/", self.paths),
            ("/api/v1/claims/", self.claims),
            ("/api/v1/transfers/", self.transfers),
            ("/api/v1/exceptions/", self.exceptions),
            ("/api/v1/notifications/", self.notifications),
        ):
            if path.startswith(prefix):
                return ids
        return []


def seed_estate(personas, make_path) -> dict[str, AccessPath]:
    """Paths in several statuses against the real clock (the API derives status at
    request time), plus a pending claim, a pending transfer and a pending exception."""
    now = timezone.now()
    day = dt.timedelta(days=1)
    teams = personas.teams
    high = AccessPath.RiskTier.HIGH  # reviewed every 90 days
    paths = {
        "active": make_path(now=now - 10 * day, risk_tier=high),
        "review_due": make_path(now=now - 85 * day, risk_tier=high),
        "overdue": make_path(now=now - 95 * day, risk_tier=high),
        "lapsed": make_path(now=now - 120 * day, risk_tier=high),
        "expired": make_path(now=now - 60 * day, expires_at=now - 30 * day),
        "data": make_path(now=now - 10 * day, owner_team=teams.data),
        "growth": make_path(now=now - 10 * day, owner_team=teams.growth, tags=["pci"]),
        "revoked": make_path(now=now - 20 * day),
        "unowned": make_path(now=now - 3 * day, owner_team=None, justification="", ticket_url=""),
        "stewarded": make_path(
            now=now - 3 * day, owner_team=None, steward_team=teams.platform, justification=""
        ),
        "claimed": make_path(now=now - 5 * day, owner_team=None, justification="", ticket_url=""),
        "offered": make_path(now=now - 10 * day),
    }
    services.path_revoke(
        actor=personas.pat, path=paths["revoked"], reason="Replaced by workload identity."
    )
    services.path_claim(
        actor=personas.pat,
        path=paths["claimed"],
        team=teams.payments,
        reason="The payments nightly jobs run under this identity.",
    )
    services.path_transfer(
        actor=personas.lee,
        path=paths["offered"],
        to_team=teams.data,
        reason="The data team now runs this export end to end.",
    )
    services.exception_request(
        actor=personas.pat,
        path=paths["overdue"],
        rule=PolicyException.Rule.NHI5_OVERPRIVILEGED,
        reason="The vendor's API has no narrower role; a ticket with them is open.",
        expires_at=now + 30 * day,
    )
    return paths


@pytest.fixture
def estate(personas, make_path) -> dict[str, AccessPath]:
    return seed_estate(personas, make_path)


@pytest.fixture
def callers(personas) -> dict[str, dict[str, str]]:
    """Bearer headers: a security reviewer's personal token, a payments team token."""
    system = Actor.system("test-setup")
    _, reviewer = services.token_create(
        actor=system, name="sam's laptop", scopes=["read", "write"], user=personas.users.sam
    )
    _, payments = services.token_create(
        actor=system, name="payments ci", scopes=["read", "write"], team=personas.teams.payments
    )
    return {
        "security reviewer": {"Authorization": f"Bearer {reviewer}"},
        "payments token": {"Authorization": f"Bearer {payments}"},
    }


@pytest.fixture
def api_schema():
    from config.wsgi import application

    return schemathesis.openapi.from_wsgi("/api/schema/", application)


@dataclass
class Run:
    examples: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    # (caller, operation, failure code, first line of its message) -> a reproducer
    failures: dict[tuple[str, str, str, str], str] = field(default_factory=dict)

    def record(self, caller: str, case: Case, response, exc, auth: dict) -> None:
        status = response.status_code
        for failure in exc.exceptions if isinstance(exc, FailureGroup) else [exc]:
            first_line = failure.message.strip().splitlines()[0] if failure.message else ""
            self.failures.setdefault(
                (caller, case.operation.label, failure.code, first_line),
                f"{case.operation.label} as {caller} -> {status}: "
                f"{failure.code} {failure.title}: {failure.message[:800]}\n"
                f"  {case.as_curl_command(headers=auth)}\n"
                f"  response: {response.text[:400]}",
            )


def _aim_at_real_objects(case, data, estate: Estate) -> None:
    """Often replace generated ids, slugs and versions with real ones."""
    path_id = None
    for name in list(case.path_parameters or {}):
        real = estate.ids_for(case.operation.path, name)
        if real and data.draw(st.integers(0, 3), label=f"real {name}?") > 0:
            case.path_parameters[name] = data.draw(st.sampled_from(real), label=name)
            if case.operation.path.startswith("/api/v1/access-paths/{id}/"):
                path_id = case.path_parameters[name]
    if isinstance(case.body, dict):
        if data.draw(st.booleans(), label="plausible prose?"):
            # Random text is rarely a specific justification or reason; these are.
            soon = (timezone.now() + dt.timedelta(days=30)).isoformat()
            plausible = {**PLAUSIBLE, "expires_at": soon, "proposed_expires_at": soon}
            case.body.update({k: v for k, v in plausible.items() if k in case.body})
            if case.operation.label in REGISTRATIONS:
                # The schema marks no field required; the registry needs these.
                number = data.draw(st.integers(0, 10**6), label="external id")
                case.body.update(name="billing-export", kind="service_account", system="aws")
                case.body.update(environment="prod", external_id=f"st-{number}")
        for key in ("team", "to_team", "owner_team", "steward_team"):
            if key in case.body and data.draw(st.booleans(), label=f"real {key}?"):
                case.body[key] = data.draw(st.sampled_from(TEAM_SLUGS), label=key)
        if "path" in case.body and estate.paths and data.draw(st.booleans(), label="real path?"):
            case.body["path"] = data.draw(st.sampled_from(estate.paths), label="path")
    if path_id is not None and case.operation.get_parameter("If-Match", "header") is not None:
        version = AccessPath.objects.filter(pk=path_id).values_list("version", flat=True).first()
        choice = data.draw(st.sampled_from(["generated", "current", "stale", "absent"]))
        headers = dict(case.headers or {})
        if choice == "current":
            headers["If-Match"] = f'W/"{version}"'
        elif choice == "stale":
            headers["If-Match"] = f'W/"{version + 7}"'
        elif choice == "absent":
            headers.pop("If-Match", None)
        case.headers = headers


def _exercise(operation, mode: GenerationMode, caller: str, auth: dict, estate, run: Run) -> None:
    @settings(
        max_examples=MAX_EXAMPLES[mode],
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
    def example(case, data):
        _aim_at_real_objects(case, data, estate)
        # One budget per caller: a few thousand calls a minute must not be 429s.
        caches["ratelimit"].clear()
        run.examples += 1
        response = case.call(headers=auth)
        run.statuses[response.status_code] = run.statuses.get(response.status_code, 0) + 1
        try:
            case.validate_response(response, checks=CHECKS, headers=auth)
        except (Failure, FailureGroup) as exc:
            # Collected, not raised: one run reports every distinct failure, unshrunk.
            run.record(caller, case, response, exc, auth)

    example()


def test_every_operation_conforms_to_the_schema(estate, callers, api_schema, capsys, caplog):
    # Thousands of expected 4xx would each log a warning; a 500's traceback still shows.
    caplog.set_level(logging.ERROR, logger="django.request")
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 30, [op.label for op in operations]
    targets = Estate()
    run = Run()
    for caller, auth in callers.items():
        for operation in operations:
            targets.refresh()
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                _exercise(operation, mode, caller, auth, targets, run)
    with capsys.disabled():
        print(
            f"\nschemathesis examples: {run.examples} ({len(operations)} operations x "
            f"{len(callers)} callers x {sum(MAX_EXAMPLES.values())} max; "
            f"statuses {dict(sorted(run.statuses.items()))})"
        )
    assert not run.failures, "\n\n".join(run.failures.values())
    # The estate was really reached (successes and refusals, not only 400s and 404s),
    # and both tokens stayed valid throughout.
    for code in (200, 201, 403, 404, 409):
        assert run.statuses.get(code), (code, run.statuses)
    assert 401 not in run.statuses, run.statuses


@pytest.mark.parametrize("regression", sorted(REGRESSIONS))
def test_fixed_bug_stays_fixed(regression, estate, callers, api_schema, caplog):
    """Replays the requests that once showed the bug: every check must pass now."""
    caplog.set_level(logging.CRITICAL, logger="django.request")
    auth = callers["security reviewer"]
    for method, path, arguments in REGRESSIONS[regression].reproduce:
        case = api_schema[path][method].Case(**arguments(estate))
        response = case.call(headers=auth)
        case.validate_response(response, checks=CHECKS, headers=auth)
