import json

from django.core.management.base import BaseCommand

from registry.runtime.request_id import request_context
from registry.services.delivery import deliver
from workers.channels import send


class Command(BaseCommand):
    help = "Send what the outbox holds that is due, one digest per recipient and channel."

    def handle(self, *args, **options) -> None:
        with request_context():
            summary = deliver(send=send)
        self.stdout.write(json.dumps(summary, sort_keys=True))
