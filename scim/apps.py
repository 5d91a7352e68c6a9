from django.apps import AppConfig


class ScimConfig(AppConfig):
    """Installed only for its management commands (create_scim_token, revoke_scim_token);
    its records live in registry.models.scim."""

    name = "scim"
    default_auto_field = "django.db.models.BigAutoField"
