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
                # Loading decrypts with whichever key matches; saving encrypts with the first.
                for integration in provider.all_objects.select_for_update().iterator():
                    integration.save(update_fields=secret_names)
                    total += 1
        self.stdout.write(f"Re-encrypted the secrets of {total} integration(s).")
