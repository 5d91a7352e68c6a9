from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from registry.rules.actors import Actor
from registry.rules.errors import ServiceError
from registry.runtime.request_id import request_context
from registry.selectors import audit_stored_secrets
from registry.services import audit_value_purge


class Command(BaseCommand):
    help = (
        "Purge values from the audit trail that should never have been stored: one "
        "(--seq N --slot S), or every value the detector now recognises (--detected). "
        "The chain still verifies; each purge is itself an audit event."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--as", dest="username", help="the security reviewer purging")
        parser.add_argument("--reason", default="", help="why (recorded in the purge event)")
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--seq", type=int, help="the event's sequence number")
        target.add_argument(
            "--detected", action="store_true", help="every value that looks like a credential"
        )
        parser.add_argument("--slot", help="with --seq: e.g. reason, request_id, changes.name")
        parser.add_argument(
            "--dry-run", action="store_true", help="with --detected: list, purge nothing"
        )

    def handle(self, *args, **options) -> None:
        if options["seq"] is not None and not options["slot"]:
            raise CommandError("--seq needs --slot (reason, request_id, actor_label, changes.X).")
        targets = (
            [(s.seq, s.slot, s.kind) for s in audit_stored_secrets()]
            if options["detected"]
            else [(options["seq"], options["slot"], "")]
        )
        for seq, slot, kind in targets:
            self.stdout.write(f"event #{seq} {slot}" + (f": looks like {kind}" if kind else ""))
        if options["dry_run"]:
            self.stdout.write(f"{len(targets)} value(s) would be purged.")
            return
        actor = self._reviewer(options["username"])
        with request_context():
            for seq, slot, _kind in targets:
                try:
                    purge = audit_value_purge(
                        actor=actor, seq=seq, slot=slot, reason=options["reason"]
                    )
                except ServiceError as exc:
                    raise CommandError(f"event #{seq} {slot}: {exc.message}") from exc
                self.stdout.write(f"purged event #{seq} {slot} (purge event #{purge.seq})")
        self.stdout.write(f"{len(targets)} value(s) purged.")

    def _reviewer(self, username: str | None) -> Actor:
        if not username:
            raise CommandError("Say who is purging: --as USERNAME (a security reviewer).")
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"No active user {username!r}.")
        return Actor.for_user(user)
