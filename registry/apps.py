from django.apps import AppConfig
from django.core import checks


class RegistryConfig(AppConfig):
    name = "registry"
    verbose_name = "NHI Registry"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from registry import request_user, signals, suggestions
        from registry.audit import signing

        signals.connect()
        checks.register(request_user.check_middleware, checks.Tags.security)
        checks.register(signing.check_signing_key, checks.Tags.security)
        checks.register(suggestions.check_owner_rules)
