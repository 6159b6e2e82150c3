"""Domain errors of integrations (the base, and the tenant's own, live in tenants.exceptions)."""

from tenants.exceptions import RegistryError


class IntegrationNotFound(RegistryError):
    def __init__(self, ident: str):
        super().__init__(f"Integration '{ident}' does not exist or has been deleted.")


class IntegrationBusy(RegistryError):
    """Racing writes of one id kept winning over this one: nothing was written; retry."""

    retry_after_seconds = 1

    def __init__(self, ident: str):
        super().__init__(
            f"Integration '{ident}' is being changed by other requests; nothing was written, "
            "try again."
        )


class UnknownProvider(RegistryError):
    """`key` names no provider; `given_as` says where it came from: the body's "type", or the
    id when the body gave no type (the API document's rule: the type defaults to the id)."""

    def __init__(self, key: str, given_as: str = "type"):
        from integrations.providers import all_providers

        known = ", ".join(cls.provider_key for cls in all_providers())
        sentence = f"Unknown integration type '{key}'; known types: {known}."
        if given_as == "id":
            sentence = (
                f"Unknown integration type '{key}' (taken from the id, as the body gives no "
                f'"type"); known types: {known}. Give one as "type" in the body.'
            )
        super().__init__(sentence)


class VersionNotFound(RegistryError):
    def __init__(self, number: int):
        super().__init__(f"Version {number} does not exist or is no longer kept.")


class PreconditionFailed(RegistryError):
    """If-Match or If-None-Match does not hold for the current state: nothing was written."""
