"""Security manages CI trust rules: which pipelines act as which team's integration
with their CI platform's OIDC token (registry/services/ci_trust.py, docs/identity.md)."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from registry.models import CiTrustRule, Team
from registry.rules.actors import Actor
from registry.rules.errors import ServiceError
from registry.runtime.request_id import request_context
from registry.services.ci_trust import ci_rule_create, ci_rule_retire


class Command(BaseCommand):
    help = (
        "CI trust rules: `create` (a security reviewer, named with --as, trusts pipelines "
        "whose CI OIDC token matches the conditions as a team's integration), `retire`, `list`."
    )

    def add_arguments(self, parser) -> None:
        commands = parser.add_subparsers(dest="command", required=True)
        create = commands.add_parser("create")
        create.add_argument("--as", dest="as_user", required=True, help="a security reviewer")
        create.add_argument("--team", required=True, help="slug of the team pipelines act for")
        create.add_argument("--name", required=True)
        create.add_argument("--issuer", required=True, help="one of NHI_CI_OIDC_ISSUERS")
        create.add_argument(
            "--condition",
            action="append",
            default=[],
            help="claim=pattern, repeatable, e.g. repository=acme/payments ref=refs/heads/main",
        )
        create.add_argument("--scopes", default="read,write", help="comma separated: read,write")
        create.add_argument("--ticket", required=True, help="the ticket approving the rule")
        create.add_argument("--days", type=int, default=90, help="expires in 1 to 365 days")
        retire = commands.add_parser("retire")
        retire.add_argument("rule_id", type=int)
        retire.add_argument("--as", dest="as_user", required=True, help="a security reviewer")
        retire.add_argument("--reason", required=True)
        commands.add_parser("list")

    def _actor(self, username: str) -> Actor:
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"No active user {username!r}.")
        return Actor.for_user(user)

    def handle(self, *args, **options) -> None:
        try:
            with request_context():
                getattr(self, f"_{options['command']}")(options)
        except ServiceError as exc:
            field = f"{exc.field}: " if exc.field else ""
            raise CommandError(f"{field}{exc.message}") from exc

    def _create(self, options) -> None:
        team = Team.objects.filter(slug=options["team"]).first()
        if team is None:
            raise CommandError(f"No team with slug {options['team']!r}.")
        conditions = {}
        for condition in options["condition"]:
            claim, sep, pattern = condition.partition("=")
            if not sep:
                raise CommandError(f"--condition {condition!r}: write claim=pattern.")
            conditions[claim.strip()] = pattern.strip()
        rule = ci_rule_create(
            actor=self._actor(options["as_user"]),
            team=team,
            name=options["name"],
            issuer=options["issuer"],
            conditions=conditions,
            scopes=[s.strip() for s in options["scopes"].split(",") if s.strip()],
            ticket_url=options["ticket"],
            expires_in_days=options["days"],
        )
        self.stdout.write(
            f"Rule {rule.pk} {rule.name!r}: pipelines of {rule.issuer} matching "
            f"{rule.conditions} act for {team.slug} until {rule.grant.expires_at:%Y-%m-%d} "
            f"(access path {rule.grant.access_path_id})."
        )

    def _retire(self, options) -> None:
        rule = CiTrustRule.objects.filter(pk=options["rule_id"]).select_related("grant").first()
        if rule is None:
            raise CommandError(f"No trust rule {options['rule_id']}.")
        ci_rule_retire(actor=self._actor(options["as_user"]), rule=rule, reason=options["reason"])
        self.stdout.write(f"Rule {rule.pk} retired; its access path is revoked.")

    def _list(self, options) -> None:
        rules = CiTrustRule.objects.select_related("team", "grant").order_by("pk")
        for rule in rules:
            state = "retired" if rule.retired_at else f"until {rule.grant.expires_at:%Y-%m-%d}"
            self.stdout.write(
                f"{rule.pk}\t{rule.team.slug}\t{rule.name}\t{rule.issuer}\t{rule.conditions}"
                f"\t{','.join(rule.grant.scopes)}\t{state}"
            )
