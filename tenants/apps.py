from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"
    verbose_name = "Tenants and API tokens"

    def ready(self):
        # Registered on import: the lock-out pages of the admin, the deploy checks.
        from tenants import admin_lockouts, checks  # noqa: F401
        from tenants.token_cache import listen_for_changes

        listen_for_changes()
