"""The key that signs audit anchors: Ed25519, read from a file, never from the database.

Someone who can rewrite the database cannot forge an anchor without this key, and an
auditor verifies anchors with the public key alone. `NHI_AUDIT_SIGNING_KEY_FILE` names a
PEM private key (`manage.py audit_signing_key --generate FILE` writes one). Without it a
development checkout (DEBUG) makes one under var/; production refuses to anchor and says
what to set.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

KEY_NOT_CONFIGURED = (
    "NHI_AUDIT_SIGNING_KEY_FILE is not set: audit anchors need a signing key kept outside "
    "the database. Create one with `manage.py audit_signing_key --generate FILE` and point "
    "NHI_AUDIT_SIGNING_KEY_FILE at it."
)


def generate_key_file(path: Path) -> Ed25519PrivateKey:
    """Write a new private key readable by its owner only; never overwrite one."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    return key


def _key_path() -> Path:
    configured = settings.NHI_AUDIT_SIGNING_KEY_FILE
    if configured:
        return Path(configured)
    if settings.DEBUG:
        return Path(settings.VAR_DIR) / "audit-signing-key.pem"
    raise ImproperlyConfigured(KEY_NOT_CONFIGURED)


def check_signing_key(app_configs=None, **kwargs) -> list:
    """Production without an anchor key cannot anchor the audit or sign evidence packs:
    say so at start-up rather than when an auditor asks for a pack."""
    from django.core import checks

    if settings.DEBUG:
        return []
    configured = settings.NHI_AUDIT_SIGNING_KEY_FILE
    if configured and Path(configured).is_file():
        return []
    return [
        checks.Warning(
            KEY_NOT_CONFIGURED if not configured else f"{configured} is not a readable file.",
            hint="Audit anchors and evidence packs are refused until the key is set.",
            id="registry.W002",
        )
    ]


def private_key() -> Ed25519PrivateKey:
    path = _key_path()
    if not path.exists() and not settings.NHI_AUDIT_SIGNING_KEY_FILE:
        return generate_key_file(path)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ImproperlyConfigured(f"{path} is not an Ed25519 private key.")
    return key


def public_key_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


def key_id(key: Ed25519PublicKey) -> str:
    """A short name for a public key: the first 16 hex digits of SHA-256 of its raw bytes."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def sign(key: Ed25519PrivateKey, message: bytes) -> str:
    return base64.b64encode(key.sign(message)).decode()


def signature_valid(key: Ed25519PublicKey, message: bytes, signature: str) -> bool:
    try:
        key.verify(base64.b64decode(signature, validate=True), message)
    except (InvalidSignature, ValueError):
        return False
    return True
