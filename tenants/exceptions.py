"""Domain errors of the registry. The API maps them to statuses; the web views to pages.

The base lives here, in the lower app, so that both apps raise the same kind of error while
the dependency runs one way (integrations → tenants).
"""


class RegistryError(Exception):
    """Base: the message is a sentence safe to show to the caller (it never holds a secret)."""


class TenantNotFound(RegistryError):
    def __init__(self, name: str):
        super().__init__(f"Tenant '{name}' does not exist or has been deleted.")
