"""Build the demo estate of DESIGN.md ("Demo data and personas"), through the services.

Every path is created by the same services a person would use, at simulated times, so
the estate carries real audit history, attestations, claims and transfers, and lands in
every status. The specs are generated from a fixed seed before anything is written, and
a path is only created when its (system, external_id) is missing: a second run changes
nothing.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from registry import services
from registry.audit import audit_record
from registry.models import AccessPath, Membership, Team
from registry.rules.actors import Actor
from registry.rules.policies import current_policy
from registry.rules.posture import PROVENANCE_REQUIRED
from registry.runtime.request_id import request_context
from registry.services._common import importing, lock_path, save_path
from registry.services.incidents import Alert
from registry.services.leases import leases_record
from registry.services.sweep import sweep

DEMO_PASSWORD = "nhi-demo-pass"  # noqa: S105 - documented demo login, set only with DEBUG on
TEAMS = [
    ("security", "Security", Team.Kind.SECURITY),
    ("platform", "Platform", Team.Kind.PLATFORM),
    ("payments", "Payments", Team.Kind.PRODUCT),
    ("data", "Data", Team.Kind.PRODUCT),
    # Nobody is in growth: its paths show offboarding (NHI1) as lapsed at once.
    ("growth", "Growth", Team.Kind.PRODUCT),
    # Control-point owners (registry.rules.control_points): identity design and elevation.
    ("cloud-iam", "Cloud IAM", Team.Kind.IAM),
    ("pam", "Privileged Access", Team.Kind.PAM),
]
USERS = [
    # username, team, role, staff
    ("sam", "security", Membership.Role.LEAD, True),
    ("pat", "payments", Membership.Role.MEMBER, False),
    ("lee", "payments", Membership.Role.LEAD, False),
    ("dana", "data", Membership.Role.MEMBER, False),
    ("otto", None, None, False),
]
SYSTEMS = ["aws", "gcp", "azure", "github", "gitlab", "kubernetes", "vault", "okta",
           "snowflake", "datadog", "stripe", "salesforce"]  # fmt: skip
# Per-system control-point owners: IAM, PAM, security monitoring. Salesforce has none,
# so its high-risk paths show the `missing_authority` posture flag.
CONTROL_POLICY = ("cloud-iam", "pam", "security")
UNGOVERNED_SYSTEMS = ("salesforce",)
# The demo's just-in-time issuer (a Vault role): its leases, never paths.
DEMO_ISSUER = "demo-vault-role-payments-deploy"
# Platforms whose control policy says they offer workload identity (posture NHI6).
WORKLOAD_IDENTITY_SYSTEMS = ("aws", "gcp", "kubernetes", "github")
# Who approves a team's high-risk access: its lead, else security's.
APPROVERS = {"payments": ("lee", "payments"), "data": ("dana", "data")}
PURPOSES = {
    "payments": ["billing-export", "ledger-sync", "fraud-scoring", "payout-batch",
                 "invoice-render", "refund-worker", "card-vault-reader", "psp-webhook"],
    "data": ["etl-loader", "dbt-runner", "feature-store", "warehouse-sync",
             "ml-training", "report-mailer", "search-indexer", "cdc-stream"],
    "growth": ["crm-sync", "campaign-sender", "ab-test-exporter", "attribution-job"],
    "unowned": ["legacy-backup", "old-deploy-bot", "jenkins-agent", "svc-migration",
                "tmp-debug-access", "monitoring-probe", "shared-admin", "log-shipper"],
}  # fmt: skip
VERBS = ["reads", "writes", "syncs", "exports", "signs requests for", "deploys", "monitors"]
SCOPES = ["read-only on one bucket", "s3:GetObject on billing-exports/*",
          "repo:contents read on payments-api", "roles/bigquery.dataViewer on analytics",
          "namespace-scoped edit in payments", "AdministratorAccess", "*:*",
          "secrets read on kv/payments/*", "db_datareader on ledger"]  # fmt: skip
# (status, how many): a few hundred paths in every status.
MIX = [
    ("active", 110), ("attested", 30), ("review_due", 30), ("overdue", 30),
    ("lapsed", 20), ("offboarded", 10), ("unowned", 40), ("claim_pending", 15),
    ("expired", 12), ("expired_unswept", 8), ("revoked", 15), ("transfer_pending", 5),
]  # fmt: skip


@dataclass
class PathSpec:
    index: int
    target: str
    team: str | None
    data: dict = field(default_factory=dict)
    offset_days: int = 0


def build_specs(rng: random.Random) -> list[PathSpec]:
    specs: list[PathSpec] = []
    kinds = list(AccessPath.Kind.values)
    environments = list(AccessPath.Environment.values)
    tiers = list(AccessPath.RiskTier.values)
    lifetimes = list(AccessPath.CredentialLifetime.values)
    vias = list(AccessPath.CreatedVia.values)
    for target, count in MIX:
        for _ in range(count):
            index = len(specs) + 1
            if target in ("unowned", "claim_pending"):
                team = None
            elif target == "offboarded":
                team = "growth"
            elif target == "transfer_pending":
                team = "payments"
            else:
                team = rng.choice(["payments", "payments", "data"])
            purpose = rng.choice(PURPOSES[team or "unowned"])
            system = SYSTEMS[index % len(SYSTEMS)]
            kind = kinds[index % len(kinds)]
            environment = environments[index % len(environments)]
            data = {
                "name": f"{purpose}-{system}-{index:03d}",
                "kind": kind,
                "system": system,
                "external_id": f"demo-{index:04d}",
                "environment": environment,
                "risk_tier": tiers[index % len(tiers)],
                "credential_lifetime": rng.choice(lifetimes),
                "created_via": vias[index % len(vias)],
                "created_by_ref": f"{rng.choice(['gha', 'argo', 'tf', 'agent'])}-run-{index}",
                # Some identities are shared by several jobs (NHI9 reuse).
                "consumers": f"{purpose} job"
                + (", reconciliation job, ad-hoc reporting" if index % 13 == 0 else ""),
                "privilege_scope": rng.choice(SCOPES),
                "data_classification": rng.choice(["public", "internal", "confidential"]),
                "rotation_days": rng.choice([None, 30, 90, 365]),
                # Only payments has a lead to sign off (DESIGN.md personas).
                "requires_human_signoff": index % 9 == 0 and team == "payments",
                "revocation_plan": "Disable the credential in the source system; the job "
                "falls back to its read-only replica.",
                "steward_team": "platform",
            }
            if team is not None:
                data["justification"] = (
                    f"The {purpose} job {rng.choice(VERBS)} {system} data in "
                    f"{environment} for the {team} team."
                )
                data["ticket_url"] = (
                    f"https://jira.example.com/browse/{team[:3].upper()}-{100 + index}"
                )
            specs.append(PathSpec(index, target, team, data, offset_days=rng.randint(2, 12)))
    return specs


class Command(BaseCommand):
    help = "Load the demo teams, users and a few hundred access paths (idempotent)."

    def handle(self, *args, **options) -> None:
        now = timezone.now()
        with request_context(), transaction.atomic():
            system = Actor.system("seed_demo")
            teams = self._teams(system, now)
            users = self._users(system, teams, now)
            self._control_policies(system, teams, now)
            created = self._paths(system, teams, users, now)
            self._incidents(system, teams, now)
            self._issuer(system, teams, now)
        # One sweep, as the scheduler would have run it: the demo's history (lapses,
        # escalations) is then in the audit record, dated when each happened, so the
        # dashboard's charts are right from the first page view.
        swept = sweep(now=now)
        existing = AccessPath.objects.filter(external_id__startswith="demo-").count()
        self.stdout.write(
            f"Demo ready: {len(teams)} teams, {len(users)} users, {created} paths created, "
            f"{existing} demo paths in all; swept once ({swept.get('lapsed', 0)} lapsed)."
        )
        if not settings.DEBUG:
            self.stdout.write(
                "DEBUG is off: demo users were created without passwords "
                "(set them with manage.py changepassword)."
            )

    def _teams(self, system: Actor, now: dt.datetime) -> dict[str, Team]:
        teams = {}
        for slug, name, kind in TEAMS:
            team = Team.objects.filter(slug=slug).first()
            if team is None:
                team = services.team_create(
                    actor=system,
                    data={"slug": slug, "name": name, "kind": kind,
                          "email": f"{slug}@example.com"},
                    now=now,
                )  # fmt: skip
            teams[slug] = team
        return teams

    def _users(self, system: Actor, teams: dict[str, Team], now: dt.datetime) -> dict:
        User = get_user_model()
        users = {}
        for username, team_slug, role, staff in USERS:
            user = User.objects.filter(username=username).first()
            if user is None:
                user = User(username=username, email=f"{username}@example.com")
                user.is_staff = user.is_superuser = staff
                if settings.DEBUG:
                    user.set_password(DEMO_PASSWORD)
                else:
                    user.set_unusable_password()
                user.save()
            users[username] = user
            if (
                team_slug
                and role is not None
                and not Membership.objects.filter(
                    user=user, team=teams[team_slug], ended_at__isnull=True
                ).exists()
            ):
                services.membership_add(
                    actor=system, team=teams[team_slug], user=user, role=role, now=now
                )
        return users

    def _control_policies(self, system: Actor, teams: dict, now: dt.datetime) -> None:
        iam, pam, secops = (teams[slug] for slug in CONTROL_POLICY)
        for name in SYSTEMS:
            if name not in UNGOVERNED_SYSTEMS:
                # Idempotent: setting the same owners again changes (and audits) nothing.
                services.system_control_policy_set(
                    actor=system, system=name, iam_team=iam, pam_team=pam, secops_team=secops,
                    offers_workload_identity=name in WORKLOAD_IDENTITY_SYSTEMS, now=now,
                )  # fmt: skip

    def _paths(self, system: Actor, teams: dict, users: dict, now: dt.datetime) -> int:
        specs = build_specs(random.Random(20261122))
        taken = set(
            AccessPath.objects.filter(external_id__startswith="demo-").values_list(
                "system", "external_id"
            )
        )
        created = 0
        for spec in specs:
            if (spec.data["system"], spec.data["external_id"]) in taken:
                continue
            _DemoPath(spec, teams, users, system, now).create()
            created += 1
        return created

    def _issuer(self, system: Actor, teams: dict, now: dt.datetime) -> None:
        """A Vault role registered once as an issuer, with a few hundred leases its
        pipeline recorded over the last two days, one of them over its maximum (posture:
        lease over the issuer's maximum). Keyed by external id: a rerun adds nothing."""
        if AccessPath.objects.filter(system="vault", external_id=DEMO_ISSUER).exists():
            return
        path = services.path_register(
            actor=system,
            data={
                "name": "payments-deploy (Vault AWS role)",
                "kind": AccessPath.Kind.WORKLOAD_IDENTITY,
                "system": "vault",
                "external_id": DEMO_ISSUER,
                "environment": AccessPath.Environment.PROD,
                "owner_team": teams["payments"],
                "steward_team": teams["platform"],
                "created_via": AccessPath.CreatedVia.IAC,
                "justification": "The deploy pipeline assumes this role for 15-minute AWS "
                "credentials to roll out the payments services.",
                "ticket_url": "https://tickets.example.com/browse/PLAT-2210",
                "risk_tier": AccessPath.RiskTier.MEDIUM,
                "credential_lifetime": AccessPath.CredentialLifetime.EPHEMERAL,
                "privilege_scope": "ecs:UpdateService on the payments cluster",
                "expires_at": now + dt.timedelta(days=180),
            },
            now=now,
        )
        # Declaring it an issuer: a path write like any edit (version, facts, audit).
        locked = lock_path(path.pk)
        changes = save_path(
            locked,
            {"issuer_kind": AccessPath.IssuerKind.VAULT_ROLE, "max_lease_seconds": 3600},
            now=now,
        )
        audit_record(
            actor=system, action="access_path.updated", obj=locked, now=now, changes=changes
        )
        rng = random.Random(18)
        start = now - dt.timedelta(hours=47)
        leases = [
            {
                "lease_ref": f"aws/creds/payments-deploy/demo-{index:04d}",
                "subject": f"ci:payments/deploy#{4100 + index // 12}",
                "issued_at": (start + dt.timedelta(minutes=9 * index)).isoformat(),
                "ttl_seconds": rng.choice((900, 900, 900, 900, 1800, 300)),
            }
            for index in range(300)
        ]
        leases[-40]["ttl_seconds"] = 4 * 3600  # someone asked for a 4-hour lease
        pipeline = Actor.integration(
            teams["payments"],
            token_id="demo",  # noqa: S106 - a label, not a secret
            name="vault-deployer",
        )
        leases_record(actor=pipeline, issuer=locked, leases=leases, now=now)

    def _incidents(self, system: Actor, teams: dict, now: dt.datetime) -> None:
        """One open leak (a partner's report, two hours ago) and one contained (a
        scanner's alert, contained after 3 hours); keyed by alert, so a rerun adds none."""
        owned = AccessPath.objects.filter(
            owner_team__in=[teams["payments"], teams["data"]],
            state=AccessPath.State.ACTIVE,
            external_id__startswith="demo-",
        ).order_by("external_id")
        for ref, path, hours_ago, contained_after in (
            ("demo-leak-1", owned.filter(owner_team=teams["payments"]).first(), 2, None),
            ("demo-leak-2", owned.filter(owner_team=teams["data"]).first(), 30, 3),
        ):
            if path is None:
                continue
            detected = now - dt.timedelta(hours=hours_ago)
            incident, created = services.incident_from_alert(
                actor=system,
                alert=Alert(
                    source="demo",
                    external_ref=ref,
                    action="created",
                    detected_at=detected,
                    secret_type="Demo credential",  # noqa: S106 - a label, not a secret
                    location=f"a public paste naming {path.name}",
                    summary="Demo incident: a credential of this path was seen in public.",
                    identifier=path.external_id,
                    kind="external_id",
                ),
                now=detected,
            )
            if created and contained_after is not None:
                services.incident_contain(
                    actor=system,
                    incident=incident,
                    note="Disabled at the source (demo).",
                    now=detected + dt.timedelta(hours=contained_after),
                )


class _DemoPath:
    """Walks one path through the services to land in its target status today."""

    def __init__(self, spec: PathSpec, teams: dict, users: dict, system: Actor, now):
        self.spec = spec
        self.teams = teams
        self.users = users
        self.system = system
        self.now = now
        self.policy = current_policy()

    def actor(self, username: str) -> Actor:
        return Actor.for_user(self.users[username])

    def member_for(self, team: str | None) -> Actor:
        return self.actor({"payments": "pat", "data": "dana"}.get(team or "", "sam"))

    def register(self, at: dt.datetime, **extra) -> AccessPath:
        data = dict(self.spec.data)
        data["steward_team"] = self.teams[data["steward_team"]]
        if self.spec.team:
            data["owner_team"] = self.teams[self.spec.team]
            if data["risk_tier"] in ("high", "critical"):
                approver, team = APPROVERS.get(self.spec.team, ("sam", "security"))
                data |= {"approved_by": approver, "approved_by_team": self.teams[team]}
        if self.spec.index % 11 == 0:  # nobody has used it for months: a stale record
            data["last_used_at"] = min(at, self.now - dt.timedelta(days=100))
        data.update(extra)
        # The demo estate is "found" access, violations and all: like an import.
        if data["created_via"] not in PROVENANCE_REQUIRED:
            return services.path_register(actor=self.system, data=data, now=at, enforce=False)
        if not self.spec.team:
            # Pipeline-made access found unowned, from before provenance was recorded:
            # kept as an import found it (posture MISSING_PROVENANCE flags it).
            with importing():
                return services.path_register(actor=self.system, data=data, now=at, enforce=False)
        return services.path_register(
            actor=self.system, data=data | self.provenance(), now=at, enforce=False
        )

    def provenance(self) -> dict:
        """The change that made a pipeline-made or AI-assisted path: a pull request
        merged by the owning team's lead (security's for a team without one)."""
        team = self.spec.team or "security"
        merger, merger_team = APPROVERS.get(team, ("sam", "security"))
        repo = self.spec.data["name"].rsplit("-", 1)[0]
        found = {
            "change_url": f"https://github.example.com/{team}/{repo}/pull/{self.spec.index}",
            "merged_by": merger,
            "merged_by_team": self.teams[merger_team],
        }
        if self.spec.data["created_via"] == AccessPath.CreatedVia.AI_AGENT:
            found["proposed_by"] = "demo-coding-agent 1.4"
        return found

    def confirm_at_source(self, path, at: dt.datetime) -> None:
        services.path_confirm_source_disabled(
            actor=self.system, path=path, note="The key is deleted in the source system.", now=at
        )

    def interval(self) -> int:
        return self.policy.interval_for(self.spec.data["risk_tier"])

    def create(self) -> None:
        d = dt.timedelta(days=1)
        days = self.spec.offset_days
        interval = self.interval()
        now = self.now
        match self.spec.target:
            case "active" | "offboarded" | "transfer_pending":
                # Registered recently enough that the first review is > 14 days away.
                start = now - d * (interval // 3)
                path = self.register(start)
                if self.spec.target == "transfer_pending":
                    services.path_transfer(
                        actor=self.actor("lee"), path=path, to_team=self.teams["data"],
                        reason="The data team now runs this export end to end.",
                        now=now - d * days,
                    )  # fmt: skip
            case "attested":
                # One full cycle ago, then attested by its team; a few owners admit that
                # a person also signs in with it (NHI10) and promise to narrow it.
                start = now - d * (interval + days)
                path = self.register(start, expires_at=start + d * 700)
                signoff = self.spec.data["requires_human_signoff"]
                human_use = self.spec.index % 7 == 0
                services.path_attest(
                    actor=self.actor("lee") if signoff else self.member_for(self.spec.team),
                    path=path, decision="reduce_scope" if human_use else "keep",
                    still_needed=True, justification_accurate=True, least_privilege=True,
                    no_human_use=not human_use,
                    note="An engineer uses it for break-glass debugging; moving them to "
                    "their own role." if human_use else "Checked scope against the job's "
                    "manifest.",
                    now=now - d * days,
                )  # fmt: skip
            case "review_due":
                self.register(now - d * (interval - days), expires_at=now + d * 300)
            case "overdue":
                start = now - d * (interval + min(days, 13))
                self.register(start, expires_at=now + d * 200)
            case "lapsed":
                start = now - d * (interval + 15 + days * 3)
                self.register(start, expires_at=start + d * 700)
            case "unowned":
                self.register(now - d * (days * 5))
            case "claim_pending":
                path = self.register(now - d * (days * 4))
                team = "payments" if self.spec.index % 2 else "data"
                services.path_claim(
                    actor=self.member_for(team), path=path, team=self.teams[team],
                    reason=f"The {team} team's nightly jobs run under this identity.",
                    now=now - d * days,
                )  # fmt: skip
            case "expired" | "expired_unswept":
                start = now - d * (60 + days)
                path = self.register(start, expires_at=start + d * 30)
                if self.spec.target == "expired":
                    services.path_expire(actor=self.system, path=path, now=start + d * 31)
                    self.confirm_at_source(path, start + d * 32)
            case "revoked":
                path = self.register(now - d * (40 + days))
                services.path_revoke(
                    actor=self.member_for(self.spec.team), path=path,
                    reason="Replaced by workload identity federation.", now=now - d * days,
                )  # fmt: skip
                # Most revocations are confirmed at the source; every third still waits
                # (status awaiting_source, in security's queue after 24 hours).
                if self.spec.index % 3:
                    self.confirm_at_source(path, now - d * days + dt.timedelta(hours=2))
            case _:
                raise ValueError(self.spec.target)
