"""The Celery app: `celery -A workers worker -B`.

With REDIS_URL (or CELERY_BROKER_URL) set, Redis is the broker. Without either, the
embedded default is kombu's filesystem transport under var/broker/, which needs no
server process, so a laptop runs web, worker and beat with nothing else installed.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# Before any worker or beat sets up logging: its handlers must redact credentials.
import workers.logging_setup  # noqa: F401

app = Celery("nhi_registry")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["workers"])
