"""The test run's environment, then the one settings module.

Only supplies what a deployment would set; DEBUG stays off so tests see production
behaviour. DATABASE_URL (and the other variables) still come from the caller.
"""

import os
import tempfile

os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECRET_KEY", "tests-only-secret-key-" + "k3y-Ch4rs-" * 6)
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
os.environ.setdefault("SECURE_COOKIES", "0")
# In-process kicks to the worker go to kombu's in-memory transport; tests that need a
# real broker start their own Redis and worker processes.
os.environ.setdefault("CELERY_BROKER_URL", "memory://")
# Uploaded import files go to a scratch directory, never the checkout's var/.
os.environ.setdefault("NHI_IMPORT_DIR", tempfile.mkdtemp(prefix="nhi-test-imports-"))

from config.settings import *  # noqa: F403

# Hashing passwords slowly is a production virtue and a test suite's waste.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
