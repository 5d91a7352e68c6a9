"""Credential detection: the one place that decides whether text holds a secret.

Every input (services, forms, serializers, importers, headers, saved filters, search)
and every log line goes through `find_secret` / `redact`. The registry stores metadata
about credentials, never the credentials.
"""

from registry.rules.secret_scan.detector import Finding, find_secret, redact

__all__ = ["Finding", "find_secret", "redact"]
