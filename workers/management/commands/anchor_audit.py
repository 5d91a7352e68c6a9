import json

from django.core.management.base import BaseCommand

from workers.siem import anchor_and_publish


class Command(BaseCommand):
    help = (
        "Sign the audit chain's head into the anchor sink (NHI_AUDIT_ANCHOR_DIR) and send "
        "pending anchors to the SIEM webhook; what the beat schedule runs hourly."
    )

    def handle(self, *args, **options) -> None:
        self.stdout.write(json.dumps(anchor_and_publish()))
