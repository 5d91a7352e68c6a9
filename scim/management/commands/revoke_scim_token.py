from django.core.management.base import BaseCommand, CommandError

from registry.models import ScimToken
from registry.rules.actors import Actor
from registry.rules.errors import ServiceError
from registry.runtime.request_id import request_context
from registry.services.scim import scim_token_revoke


class Command(BaseCommand):
    help = "Revoke a SCIM token by its display prefix (nhir_xxxxxxxx): it stops at once."

    def add_arguments(self, parser) -> None:
        parser.add_argument("prefix", help="the token's display prefix")
        parser.add_argument("--reason", required=True, help="why (recorded in the audit trail)")

    def handle(self, *args, **options) -> None:
        token = ScimToken.objects.filter(prefix=options["prefix"]).first()
        if token is None:
            raise CommandError(f"No SCIM token {options['prefix']!r}.")
        try:
            with request_context():
                scim_token_revoke(
                    actor=Actor.system("revoke_scim_token"), token=token, reason=options["reason"]
                )
        except ServiceError as exc:
            raise CommandError(exc.message) from exc
        self.stderr.write(f"Revoked SCIM token {token.prefix}; its access path is revoked too.")
