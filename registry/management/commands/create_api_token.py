from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from registry.models import Team
from registry.rules.actors import Actor
from registry.rules.errors import ServiceError
from registry.runtime.request_id import request_context
from registry.services.tokens import token_create


class Command(BaseCommand):
    help = (
        "Issue an API token: a team token (--team) or a personal one (--user). The token "
        "is printed once, alone on the last line; only its hash is kept."
    )

    def add_arguments(self, parser) -> None:
        holder = parser.add_mutually_exclusive_group(required=True)
        holder.add_argument("--team", help="slug of the team an integration acts for")
        holder.add_argument("--user", help="username of the person the token acts as")
        parser.add_argument("--name", required=True, help="what uses the token")
        parser.add_argument("--scopes", default="read", help="comma separated: read,write")
        parser.add_argument("--expires-in-days", type=int, default=90, help="1 to 365")

    def handle(self, *args, **options) -> None:
        team = user = None
        if options["team"]:
            team = Team.objects.filter(slug=options["team"]).first()
            if team is None:
                raise CommandError(f"No team with slug {options['team']!r}.")
            holder = f"team {team.slug}"
        else:
            user = get_user_model().objects.filter(username=options["user"]).first()
            if user is None:
                raise CommandError(f"No user {options['user']!r}.")
            holder = f"user {user.get_username()}"
        scopes = [s.strip() for s in options["scopes"].split(",") if s.strip()]
        try:
            with request_context():
                token, secret = token_create(
                    actor=Actor.system("create_api_token"),
                    name=options["name"],
                    scopes=scopes,
                    expires_in_days=options["expires_in_days"],
                    team=team,
                    user=user,
                )
        except ServiceError as exc:
            raise CommandError(exc.message) from exc
        self.stderr.write(
            f"Token {token.name!r} for {holder}, scopes {','.join(token.scopes)}, expires "
            f"{token.expires_at:%Y-%m-%d}. Registered as access path {token.access_path_id}. "
            "It is shown once; store it now:"
        )
        self.stdout.write(secret)
