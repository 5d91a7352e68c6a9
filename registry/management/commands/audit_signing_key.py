from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from registry.audit.signing import generate_key_file, key_id, private_key, public_key_pem


class Command(BaseCommand):
    help = (
        "Create the Ed25519 key that signs audit anchors (--generate FILE), or print the "
        "configured key's public half for auditors and the SIEM (--public)."
    )

    def add_arguments(self, parser) -> None:
        group = parser.add_mutually_exclusive_group(required=True)
        group.add_argument("--generate", type=Path, help="write a new private key here (0600)")
        group.add_argument("--public", action="store_true", help="print the public key (PEM)")

    def handle(self, *args, **options) -> None:
        if options["generate"] is not None:
            try:
                key = generate_key_file(options["generate"])
            except FileExistsError as exc:
                raise CommandError(
                    f"{options['generate']} exists; refusing to replace a key."
                ) from exc
            self.stderr.write(
                f"Wrote {options['generate']}; set NHI_AUDIT_SIGNING_KEY_FILE to it. "
                f"Key id {key_id(key.public_key())}; its public key:"
            )
        else:
            key = private_key()
        self.stdout.write(public_key_pem(key.public_key()), ending="")
