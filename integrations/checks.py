from django.conf import settings
from django.core.checks import Error, register

from integrations.encryption import invalid_keys


@register()
def check_field_encryption_keys(app_configs, **kwargs):
    bad = invalid_keys(settings.FIELD_ENCRYPTION_KEYS)
    if not bad:
        return []
    return [
        Error(
            f"FIELD_ENCRYPTION_KEYS entry {', '.join(map(str, bad))} is not a Fernet key.",
            hint="Generate one with: python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'",
            id="integrations.E001",
        )
    ]
