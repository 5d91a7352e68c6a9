from django.apps import AppConfig
from django.core import checks


class RegistryConfig(AppConfig):
    name = "registry"
    verbose_name = "NHI Registry"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from registry.audit import signing
        from registry.rules import enforcement, owner_suggestions
        from registry.runtime import current_request

        # The admin lives with the other pages (registry/web/): Django's autodiscovery
        # only looks for registry.admin, so the admin modules are registered here
        # (admin_accounts: Django's account admin with the no-credentials rule on names;
        # admin_operations: stored files, background exports, job ticks, read-only).
        from registry.web import (  # noqa: F401
            account_signals,
            admin,
            admin_accounts,
            admin_decisions,
            admin_identity,
            admin_leases,
            admin_operations,
            admin_signoff,
        )

        account_signals.connect()
        checks.register(current_request.check_middleware, checks.Tags.security)
        checks.register(signing.check_signing_key, checks.Tags.security)
        checks.register(owner_suggestions.check_owner_rules)
        checks.register(enforcement.check_enforcement)
