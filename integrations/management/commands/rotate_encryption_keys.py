from django.core.management.base import BaseCommand
from django.db import transaction

from integrations.providers import all_providers


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret, deleted integrations included, under the newest key "
        "in FIELD_ENCRYPTION_KEYS. Put the new key first, run this, then drop the old key."
    )

    def handle(self, *args, **options):
        total = 0
        with transaction.atomic():
            for provider in all_providers():
                secret_names = provider.secret_field_names()
                # MultiFernet.rotate: decrypts with whichever key matches, encrypts with the
                # first; the plaintext never reaches this code.
                for integration in provider.all_objects.select_for_update().iterator():
                    for name in secret_names:
                        value = getattr(integration, name)
                        if value is not None:
                            setattr(integration, name, value.rotated())
                    integration.save(update_fields=secret_names)
                    total += 1
        self.stdout.write(f"Re-encrypted the secrets of {total} integration(s).")
