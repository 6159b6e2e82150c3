"""Deploy checks (`manage.py check --deploy`, run by `make serve` before it serves).

Stored secrets decrypt: a few of each provider's newest rows are tried with the configured
FIELD_ENCRYPTION_KEYS. None decrypting is the "started with the wrong key" mistake (a key
mistyped, another environment's `.env`, the old key dropped before rotating): an Error, so the
deploy stops before every read of a secret fails. Some not decrypting is a Warning naming the
records (by tenant, id and field; never a value). Nothing stored yet, or no tables yet, is
nothing to check; a database that cannot be reached is a Warning (the check could not run).
"""

from pathlib import Path
from typing import TYPE_CHECKING, cast

from django.core.checks import Error, Tags, Warning, register
from django.db import DatabaseError, connection

from integrations import encryption

if TYPE_CHECKING:
    from django.db.backends.sqlite3.base import DatabaseWrapper as SQLiteDatabaseWrapper

SAMPLE_PER_PROVIDER = 5
NAMED_AT_MOST = 10


@register(Tags.security, deploy=True)
def check_stored_secrets_decrypt(app_configs=None, **kwargs):
    if not _tables_exist():
        return []
    try:
        sampled, unreadable = _sample()
    except DatabaseError as error:
        first_line = (str(error).strip().splitlines() or [""])[0]
        return [
            Warning(
                "Could not sample the stored secrets to check FIELD_ENCRYPTION_KEYS: the "
                f"database is unavailable ({type(error).__name__}: {first_line}).",
                id="integrations.W002",
            )
        ]
    if not sampled:
        return []
    if len(unreadable) == len(sampled):
        return [
            Error(
                f"None of the {len(sampled)} stored secrets sampled (the newest of each "
                "provider) decrypts with any key in FIELD_ENCRYPTION_KEYS: the application "
                "was started with the wrong keys.",
                hint="Put the key the secrets were written with back into "
                "FIELD_ENCRYPTION_KEYS (newest first; a new key goes before it, see README "
                "'Rotate keys'). `manage.py rotate_encryption_keys --check` counts them all.",
                id="integrations.E001",
            )
        ]
    if unreadable:
        named = ", ".join(unreadable[:NAMED_AT_MOST])
        more = (
            f" and {len(unreadable) - NAMED_AT_MOST} more"
            if len(unreadable) > NAMED_AT_MOST
            else ""
        )
        return [
            Warning(
                f"{len(unreadable)} of the {len(sampled)} stored secrets sampled do not decrypt "
                f"with any key in FIELD_ENCRYPTION_KEYS: {named}{more}.",
                hint="Their key was dropped: put it back into FIELD_ENCRYPTION_KEYS, or enter "
                "those secrets again. `manage.py rotate_encryption_keys --check` counts them all.",
                id="integrations.W001",
            )
        ]
    return []


def _tables_exist() -> bool:
    """False on a database not migrated yet (or a SQLite file not created yet: looking would
    create it)."""
    from integrations.models import Integration

    settings_dict = connection.settings_dict
    if (
        connection.vendor == "sqlite"
        # The vendor is checked just above: this is SQLite's DatabaseWrapper.
        and not cast("SQLiteDatabaseWrapper", connection).is_in_memory_db()
        and not Path(str(settings_dict["NAME"])).exists()
    ):
        return False
    try:
        return Integration._meta.db_table in connection.introspection.table_names()
    except DatabaseError:
        return True  # unreachable: _sample says so


def _sample() -> tuple[list[str], list[str]]:
    """(every secret sampled, those that no key decrypts), each named "provider
    tenant/id field"."""
    from integrations.providers import all_providers

    sampled, unreadable = [], []
    for provider in all_providers():
        names = provider.secret_field_names()
        rows = (
            provider.all_objects.non_polymorphic()
            .order_by("-updated_at", "-pk")
            .values_list("tenant__name", "ident", *names)[:SAMPLE_PER_PROVIDER]
        )
        for tenant, ident, *secrets in rows:
            for name, value in zip(names, secrets, strict=True):
                ciphertext = value.ciphertext if value is not None else ""
                if not ciphertext:
                    continue
                label = f"{provider.provider_key} {tenant}/{ident} {name}"
                sampled.append(label)
                if not encryption.can_decrypt(ciphertext):
                    unreadable.append(label)
    return sampled, unreadable
