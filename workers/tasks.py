"""Celery tasks: thin wrappers that call one service each (house rule 5)."""

from celery import shared_task
from django.db import OperationalError

from registry.context import request_context
from registry.services.delivery import deliver
from registry.services.sweep import sweep
from workers.channels import send

# A database that is briefly unreachable is worth retrying; anything else is a bug and
# should surface. Both tasks are idempotent, so a retry can never double anything.
RETRY = {"autoretry_for": (OperationalError,), "retry_backoff": True, "max_retries": 5}


@shared_task(name="registry.sweep", **RETRY)
def sweep_task() -> dict:
    with request_context():
        return sweep()


@shared_task(name="registry.deliver", **RETRY)
def deliver_task() -> dict:
    with request_context():
        return deliver(send=send)
