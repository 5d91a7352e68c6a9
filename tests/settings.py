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

# The key that signs audit anchors lives outside the database: one per test run.
_KEY_DIR = tempfile.mkdtemp(prefix="nhi-test-keys-")
os.environ.setdefault("NHI_AUDIT_SIGNING_KEY_FILE", os.path.join(_KEY_DIR, "audit.pem"))
if not os.path.exists(os.environ["NHI_AUDIT_SIGNING_KEY_FILE"]):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    with open(os.environ["NHI_AUDIT_SIGNING_KEY_FILE"], "wb") as _handle:
        _handle.write(
            Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )

from config.settings import *  # noqa: E402, F403

# Hashing passwords slowly is a production virtue and a test suite's waste.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Request budgets in the test process's memory, large enough that no test meets them
# by accident (tests/runtime/test_rate_limits.py sets small ones and its own Redis).
NHI_RATE_PER_PERSON = NHI_RATE_PER_TEAM = NHI_RATE_ANONYMOUS = 1_000_000
CACHES["ratelimit"] = {  # noqa: F405
    "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
    "LOCATION": "ratelimit",
}

# Templates resolve {% static %} without a collected manifest (tests/ops/test_production.py
# checks the production storage against a real collectstatic).
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
