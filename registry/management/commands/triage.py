"""`manage.py triage VALUE [--kind K] --as USERNAME`: the triage answer as JSON."""

from __future__ import annotations

import json

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from registry.rules.actors import Actor
from registry.rules.errors import ServiceError
from registry.runtime.request_id import request_context
from registry.selectors.triage import LOOKUP_KINDS
from registry.services.triage import triage_lookup


class Command(BaseCommand):
    help = (
        "Look a credential up by an identifier or its fingerprint (SHA-256 hex) and print "
        "who to call, as JSON. The lookup is audited and the owning team told, as on the "
        "page and the API. Never pass the credential itself: it is refused."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("value", help="key id, principal, client id, external id or SHA-256")
        parser.add_argument("--kind", choices=LOOKUP_KINDS, default=None)
        parser.add_argument("--as", dest="username", required=True, help="the person looking it up")

    def handle(self, *args, **options) -> None:
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None or not user.is_active:
            raise CommandError(f"No active user {options['username']!r}.")
        try:
            with request_context():
                answer = triage_lookup(
                    actor=Actor.for_user(user), value=options["value"], kind=options["kind"]
                )
        except ServiceError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(json.dumps(answer.data, indent=2, sort_keys=True))
