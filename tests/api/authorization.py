"""How the authorization matrix (tests/api/authorization_matrix.py) is run.

Cells do not share state: the personas are built once per module, and each cell runs
in its own transaction (pytest-django's function-scoped `db`) that is rolled back after
it, so every cell starts from exactly the personas (fixtures `personas_once` and `world`
in tests/api/conftest.py). The objects a cell acts on are built lazily inside that
transaction by `World`. Every refusal is also checked to have changed nothing (no audit
event, no path version or state) and to have recorded exactly its own security event,
if it is one (docs/SECURITY-EVENTS.md); every accepted write to have changed something,
and every list of otto's (who is in no team) to be empty."""

from __future__ import annotations

import datetime as dt
import itertools
from functools import cached_property

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from api.exceptions import _CODES
from api.urls import router
from registry import services
from registry.models import AccessPath, AuditEvent, ImportRun, Notification, PolicyException
from registry.services.security import SECURITY_ACTIONS
from registry.services.signoff import agent_action_record
from registry.services.tokens import token_create, token_revoke
from tests.api.authorization_matrix import HIDDEN, LISTED
from tests.conftest import Personas, path_data
from tests.support_leases import lease_items, make_issuer

CLAIM_REASON = "Our billing export job runs under this account every night."
TRANSFER_REASON = "The growth team now runs the export pipeline end to end."
DECISION_REASON = "Confirmed with the steward: the export job is theirs."
EXCEPTION_REASON = "The vendor API offers no narrower scope until its next release."
SIGNOFF_POLICY = {
    "actions": ["deploy"],
    "data_classes": ["pii"],
    "max_records": 1000,
    "rollback_path": "Redeploy the previous release; restore the table from the nightly copy.",
}
HOME_TEAM = {"dana": "data", "sam": "security"}  # everyone else acts for payments


class World:
    """The personas and, built on first use, each object a cell may act on."""

    def __init__(self, personas: Personas) -> None:
        self.p = personas
        self.teams = self.p.teams
        self._ids = itertools.count(1)
        self.now = timezone.now()

    # --- callers --------------------------------------------------------------------

    def client(self, persona: str) -> APIClient:
        client = APIClient()
        if persona in ("pat", "lee", "dana", "otto", "sam"):
            client.force_login(getattr(self.p.users, persona))
        elif persona != "anonymous":
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {self.token(persona)}")
        return client

    def token(self, persona: str) -> str:
        scopes = ["read"] if persona == "payments_ro" else ["read", "write"]
        kwargs = {}
        if persona == "expired":
            kwargs = {"now": self.now - dt.timedelta(days=100), "expires_in_days": 30}
        token, secret = token_create(
            actor=self.p.system, name=persona, scopes=scopes, team=self.teams.payments, **kwargs
        )
        if persona == "revoked":
            token_revoke(actor=self.p.system, token=token, reason="Rotated after a test run.")
        return secret

    # --- paths ----------------------------------------------------------------------

    def new_path(self, owner: str | None, **extra) -> AccessPath:
        data = path_data(external_id=f"matrix-{next(self._ids)}", **extra)
        if owner is None:
            data |= {"steward_team": self.teams.platform, "justification": "", "ticket_url": ""}
        else:
            data["owner_team"] = getattr(self.teams, owner)
            data |= {"approved_by": "lee", "approved_by_team": data["owner_team"]}
        return services.path_register(actor=self.p.system, data=data)

    @cached_property
    def own_path(self) -> AccessPath:
        return self.new_path("payments")

    @cached_property
    def other_path(self) -> AccessPath:
        return self.new_path("data")

    @cached_property
    def unowned_path(self) -> AccessPath:
        return self.new_path(None)

    @cached_property
    def own_signoff_path(self) -> AccessPath:
        return self.new_path("payments", requires_human_signoff=True)

    def _revoked(self, owner: str) -> AccessPath:
        return services.path_revoke(
            actor=self.p.system, path=self.new_path(owner), reason="The export job was retired."
        )

    @cached_property
    def own_revoked_path(self) -> AccessPath:
        return self._revoked("payments")

    @cached_property
    def other_revoked_path(self) -> AccessPath:
        return self._revoked("data")

    @cached_property
    def own_issuer_path(self) -> AccessPath:
        return make_issuer(self.new_path("payments"), now=self.now)

    @cached_property
    def other_issuer_path(self) -> AccessPath:
        return make_issuer(self.new_path("data"), now=self.now)

    def path(self, obj: str) -> AccessPath:
        return getattr(self, f"{obj}_path")

    # --- claims ---------------------------------------------------------------------

    def _claim(self, actor, team: str):
        return services.path_claim(
            actor=actor,
            path=self.new_path(None),
            team=getattr(self.teams, team),
            reason=CLAIM_REASON,
        )

    def claim(self, obj: str):
        if obj == "pending":
            return self._claim(self.p.pat, "payments")
        if obj == "by_sam":
            return self._claim(self.p.sam, "security")
        claim = self._claim(self.p.dana, "data")  # decided_other: data now owns the path
        return services.claim_approve(actor=self.p.sam, claim=claim, reason=DECISION_REASON)

    # --- transfers ------------------------------------------------------------------

    def _offer(self, source: str, target: str):
        actor = self.p.lee if source == "payments" else self.p.system  # data has no lead
        return services.path_transfer(
            actor=actor,
            path=self.new_path(source),
            to_team=getattr(self.teams, target),
            reason=TRANSFER_REASON,
        )

    @cached_property
    def incoming_transfer(self):
        return self._offer("data", "payments")

    @cached_property
    def outgoing_transfer(self):
        return self._offer("payments", "data")

    @cached_property
    def accepted_transfer(self):
        transfer = self._offer("data", "payments")
        return services.transfer_accept(actor=self.p.pat, transfer=transfer)

    def transfer(self, obj: str):
        return getattr(self, f"{obj}_transfer")

    # --- exceptions -----------------------------------------------------------------

    def _exception(self, actor, owner: str) -> PolicyException:
        return services.exception_request(
            actor=actor,
            path=self.new_path(owner),
            rule=PolicyException.Rule.NHI5_OVERPRIVILEGED,
            reason=EXCEPTION_REASON,
            expires_at=self.now + dt.timedelta(days=30),
        )

    def exception(self, obj: str) -> PolicyException:
        if obj == "own":
            return self._exception(self.p.pat, "payments")
        if obj == "other":
            return self._exception(self.p.dana, "data")
        if obj == "by_sam":
            return self._exception(self.p.sam, "payments")
        exception = self._exception(self.p.pat, "payments")  # decided
        return services.exception_approve(
            actor=self.p.sam, exception=exception, reason=DECISION_REASON
        )

    # --- changes waiting for a second person -----------------------------------------

    def change(self, obj: str):
        if obj == "critical":
            path, asker = self.new_path("payments", risk_tier="critical"), self.p.lee
        else:
            path = self.path(obj)
            asker = self.p.pat if obj == "own" else self.p.dana
        held = services.path_update(actor=asker, path=path, changes={"risk_tier": "low"})
        return held.held_change

    # --- agents' actions waiting for sign-off ------------------------------------------

    def agent_action(self, obj: str):
        if obj == "critical":
            path, actor = self.new_path("payments", risk_tier="critical"), self.p.payments_ci
        else:
            path = self.path(obj)
            actor = self.p.payments_ci if obj == "own" else self.p.system
        return agent_action_record(actor=actor, path=path, data={"action": "deploy"})

    # --- incidents ------------------------------------------------------------------

    def incident(self, obj: str):
        if obj == "unmatched":
            return services.incident_open(actor=self.p.system, identifier="matrix-nothing")
        owner = "other" if obj == "other" else "own"
        incident = services.incident_open(actor=self.p.system, path=self.path(owner))
        if obj == "own_contained":
            incident = services.incident_contain(actor=self.p.system, incident=incident)
        return incident

    # --- audit events and notifications ---------------------------------------------

    def audit_event(self, obj: str) -> AuditEvent:
        events = AuditEvent.objects.order_by("seq")
        if obj == "pathless":
            event = events.filter(path__isnull=True).first()
        else:
            event = events.filter(path=self.path(obj)).first()
        assert event is not None
        return event

    @cached_property
    def control_policy(self):
        return services.system_control_policy_set(
            actor=self.p.system,
            system="aws",
            iam_team=self.teams.security,
            pam_team=None,
            secops_team=self.teams.security,
        )

    @cached_property
    def import_run(self) -> ImportRun:
        return ImportRun.objects.create(
            source_format="csv", actor_label="sam", started_by=self.p.users.sam,
            status=ImportRun.Status.APPLIED, created_at=self.now,
        )  # fmt: skip

    def notification(self, obj: str) -> Notification:
        transfer = self.incoming_transfer if obj == "own" else self.outgoing_transfer
        notification = Notification.objects.filter(team=transfer.to_team).first()
        assert notification is not None
        return notification


# --- how each route is called ---------------------------------------------------------

BASENAMES = {prefix: basename for prefix, _viewset, basename in router.registry}


def path_body(world: World, obj: str) -> dict:
    """A new path for create/register, owned as `obj` says, or an existing one's key."""
    if obj.startswith("existing_"):
        path = world.path(obj.removeprefix("existing_"))
        return {
            "system": path.system,
            "external_id": path.external_id,
            "owner_team": path.owner_team.slug,
            "name": "billing-export-renamed",
        }
    body = path_data(external_id=f"new-{next(world._ids)}")
    if obj == "unowned":
        body |= {"justification": "", "ticket_url": ""}
    else:
        body["owner_team"] = {"own": "payments", "other": "data"}[obj]
        body |= {"approved_by": "lee", "approved_by_team": body["owner_team"]}
    return body


ATTEST = {
    "decision": "keep",
    "still_needed": True,
    "justification_accurate": True,
    "least_privilege": True,
    "no_human_use": True,
    "note": "",
}


def request_for(world: World, persona: str, route: str, obj: str) -> tuple[str, str, dict | None]:
    """(method, url, body) of one cell. Objects are built here, before the request."""
    resource, _, action = route.partition(":")
    if resource == "me":
        return "get", reverse("me"), None
    if resource == "posture-rules":
        return "get", reverse("posture-rules"), None
    if resource == "triage":
        return "post", reverse("triage"), {"value": world.path(obj).external_id}
    if resource == "access-path-source-disabled":
        url = reverse(resource, args=[world.path(obj).pk])
        return "post", url, {"note": "Key deleted at the source."}
    if resource == "access-path-signoff-policy":
        return "put", reverse(resource, args=[world.path(obj).pk]), SIGNOFF_POLICY
    if resource == "access-path-agent-actions":
        return "post", reverse(resource, args=[world.path(obj).pk]), {"action": "deploy"}
    if resource == "access-path-leases":
        url = reverse(resource, args=[world.path(obj).pk])
        issued = world.now - dt.timedelta(minutes=1)
        return "post", url, {"leases": lease_items(2, start=issued, prefix=f"matrix-{persona}")}
    if resource == "incident-intake":
        body = {
            "source": "matrix-scanner",
            "alert_id": f"alert-{next(world._ids)}",
            "identifier": world.path(obj).external_id,
            "detected_at": world.now.isoformat(),
        }
        return "post", reverse("incident-intake"), body
    if resource == "incidents" and action == "create":
        if obj == "by_identifier":
            return "post", reverse("incident-list"), {"identifier": world.path("other").external_id}
        return "post", reverse("incident-list"), {"path": str(world.path(obj).pk)}
    if resource == "control-policies":
        system = world.control_policy.system
        if action == "list":
            return "get", reverse("control-policy-list"), None
        url = reverse("control-policy-detail", args=[system])
        return ("get", url, None) if action == "retrieve" else ("put", url, {"iam_team": "data"})
    basename = BASENAMES[resource]
    if action == "list":
        return "get", reverse(f"{basename}-list") + "?page_size=200", None
    if resource == "access-paths":
        if action in ("create", "register", "evaluate"):
            name = {"create": "access-path-list"}.get(action, f"access-path-{action}")
            return "post", reverse(name), path_body(world, obj)
        pk = world.path(obj).pk
        bodies = {
            "retrieve": None,
            "partial_update": {"consumers": "The nightly billing export job, version 2."},
            "claim": {"team": HOME_TEAM.get(persona, "payments"), "reason": CLAIM_REASON},
            "attest": ATTEST,
            "transfer": {"to_team": "growth", "reason": TRANSFER_REASON},
            "revoke": {"reason": "The export job was retired last week."},
        }
        method = {"retrieve": "get", "partial_update": "patch"}.get(action, "post")
        return method, detail_url(basename, action, pk), bodies[action]
    if resource == "imports" and action == "create":
        upload = SimpleUploadedFile("paths.csv", b"name,kind,system,external_id,environment\n")
        return "post", reverse("import-list"), {"file": upload, "format": "csv"}
    if resource == "exceptions" and action == "create":
        body = {
            "path": str(world.path(obj).pk),
            "rule": PolicyException.Rule.NHI5_OVERPRIVILEGED,
            "reason": EXCEPTION_REASON,
            "expires_at": (world.now + dt.timedelta(days=30)).isoformat(),
        }
        return "post", reverse("exception-list"), body
    key = {
        "claims": lambda: world.claim(obj).pk,
        "transfers": lambda: world.transfer(obj).pk,
        "teams": lambda: obj,
        "exceptions": lambda: world.exception(obj).pk,
        "audit-events": lambda: world.audit_event(obj).seq,
        "notifications": lambda: world.notification(obj).pk,
        "imports": lambda: world.import_run.pk,
        "incidents": lambda: world.incident(obj).pk,
        "change-requests": lambda: world.change(obj).pk,
        "agent-actions": lambda: world.agent_action(obj).pk,
    }[resource]()
    if action in ("retrieve", "members"):
        return "get", detail_url(basename, action, key), None
    body = None if action == "accept" else {"reason": DECISION_REASON}
    if action == "purge":
        body = {"slot": "reason", "reason": DECISION_REASON}
    if action == "decide":
        body = {"approve": True, "reason": DECISION_REASON}
    if action == "link":  # a path every team member can see: the refusal is the link's
        body = {"path": str(world.path("unowned").pk)}
    return "post", detail_url(basename, action, key), body


def detail_url(basename: str, action: str, key) -> str:
    name = f"{basename}-detail" if action in ("retrieve", "partial_update") else None
    return reverse(name or f"{basename}-{action.replace('_', '-')}", args=[key])


def list_object_key(world: World, route: str, obj: str) -> tuple[str, object]:
    """The field and value that identify the object among a list's results."""
    resource = route.partition(":")[0]
    return {
        "access-paths": lambda: ("id", str(world.path(obj).pk)),
        "claims": lambda: ("id", world.claim(obj).pk),
        "transfers": lambda: ("id", world.transfer(obj).pk),
        "teams": lambda: ("slug", obj),
        "control-policies": lambda: ("system", obj),
        "exceptions": lambda: ("id", world.exception(obj).pk),
        "audit-events": lambda: ("seq", world.audit_event(obj).seq),
        "notifications": lambda: ("id", world.notification(obj).pk),
        "imports": lambda: ("id", str(world.import_run.pk)),
        "incidents": lambda: ("id", world.incident(obj).pk),
        "change-requests": lambda: ("id", world.change(obj).pk),
    }[resource]()


def fingerprint() -> tuple:
    """What any change leaves behind: every service writes an audit event with its
    change, and every change to a path bumps its version. (A refusal's own security
    event is not a change: see `security_events`.)"""
    return (
        AuditEvent.objects.exclude(action__in=SECURITY_ACTIONS).count(),
        set(AccessPath.objects.values_list("id", "version", "state")),
        ImportRun.objects.count(),  # an accepted upload queues a run (a worker applies it)
    )


def security_events(persona: str, status: int) -> int:
    """A refusal records itself once: 403 and 409 (request.refused or, for a missing
    scope, api_token.denied), and 401 for a token that no longer works. No credentials
    (401) and not found (404) are not recorded."""
    if status in (403, 409):
        return 1
    return int(status == 401 and persona in ("expired", "revoked"))


def run_cell(world: World, persona: str, route: str, obj: str):
    client = world.client(persona)
    method, url, body = request_for(world, persona, route, obj)
    field = value = None
    if route.endswith(":list"):
        field, value = list_object_key(world, route, obj)
    before = fingerprint()
    if method == "get":
        response = client.get(url)
    else:
        multipart = route == "imports:create"
        response = getattr(client, method)(url, body, format="multipart" if multipart else "json")
    return response, before, (field, value)


def check_cell(world: World, persona: str, route: str, obj: str, expected) -> None:
    """Run one cell and check its status, its error shape, and what it changed."""
    response, before, (field, value) = run_cell(world, persona, route, obj)
    recorded = AuditEvent.objects.filter(
        action__in=SECURITY_ACTIONS, request_id=response["X-Request-ID"]
    ).count()
    status = 200 if expected in (LISTED, HIDDEN) else expected
    assert response.status_code == status, response.content
    body = response.json()
    if status >= 400:
        assert body["code"] == _CODES[status]
        assert "detail" in body
        if status == 401:
            assert response["WWW-Authenticate"].startswith("Bearer")
        assert fingerprint() == before, "a refused request changed something"
        assert recorded == security_events(persona, status)
        return
    if expected in (LISTED, HIDDEN):
        assert "count" not in body
        listed = [item[field] for item in body["results"]]
        assert (value in listed) == (expected == LISTED), listed
        if persona == "otto" and route != "teams:list":
            assert body["results"] == []
    elif route == "me":
        assert body["kind"] == ("token" if persona.startswith("payments") else "user")
    if route == "access-paths:evaluate":  # a read sent as a POST: nothing saved
        assert body["verdict"] in ("allowed", "needs_approval")
        assert fingerprint() == before, "evaluating changed something"
    elif route == "posture-rules":
        assert {"nhi5_overprivileged", "nhi7_agent_static"} <= {r["rule"] for r in body}
    elif response.request["REQUEST_METHOD"] != "GET":
        assert fingerprint() != before, "an accepted write changed nothing"
