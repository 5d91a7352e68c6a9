from django.core.management.base import BaseCommand, CommandError

from registry.models import Team
from registry.rules.actors import Actor
from registry.rules.errors import ServiceError
from registry.runtime.request_id import request_context
from registry.services.scim import scim_token_create


class Command(BaseCommand):
    help = (
        "Issue the bearer token an identity provider's SCIM client presents. It is "
        "registered as an access path owned by --team (default: security) and printed "
        "once, alone on the last line; only its hash is kept."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--name", required=True, help="which provider uses it (entra-id)")
        parser.add_argument("--team", default="security", help="slug of the owning team")
        parser.add_argument("--expires-in-days", type=int, default=365, help="1 to 365")

    def handle(self, *args, **options) -> None:
        team = Team.objects.filter(slug=options["team"]).first()
        if team is None:
            raise CommandError(f"No team with slug {options['team']!r}.")
        try:
            with request_context():
                token, secret = scim_token_create(
                    actor=Actor.system("create_scim_token"),
                    name=options["name"],
                    team=team,
                    expires_in_days=options["expires_in_days"],
                )
        except ServiceError as exc:
            raise CommandError(exc.message) from exc
        self.stderr.write(
            f"SCIM token {token.name!r}, owned by {team.slug}, expires "
            f"{token.expires_at:%Y-%m-%d}. Registered as access path {token.access_path_id}. "
            "It is shown once; store it in the identity provider now:"
        )
        self.stdout.write(secret)
