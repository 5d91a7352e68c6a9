from django.apps import AppConfig
from django.core import checks


class RegistryConfig(AppConfig):
    name = "registry"
    verbose_name = "NHI Registry"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from registry import request_user, signals

        signals.connect()
        checks.register(request_user.check_middleware, checks.Tags.security)
