from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"
    verbose_name = "Tenants and API tokens"

    def ready(self):
        from tenants import checks  # noqa: F401 (registers the deploy checks)
