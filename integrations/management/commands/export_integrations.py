"""`manage.py export_integrations [--tenant NAME ...] --output FILE`: write tenants and their live
integrations, secrets included, to a passphrase-encrypted bundle (integrations/bundles.py) that
`import_integrations` reads into another registry, whatever its FIELD_ENCRYPTION_KEYS.

The passphrase comes from REGISTRY_BUNDLE_PASSPHRASE or a prompt, never from the command line
(arguments show in `ps`). The file is written readable by its owner only, all at once (a
temporary file renamed into place), and only after every secret decrypted. Each exported
integration gets a `reveal` audit event: its secrets left the registry (encrypted).
"""

import os
import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from integrations import bundles
from integrations.bundle_export import (
    ExportFailed,
    count_integrations,
    export_payload,
    export_tenants,
)
from integrations.management.progress import Progress
from integrations.services import integration_reveals_record
from tenants.actors import Actor
from tenants.exceptions import TenantNotFound


class Command(BaseCommand):
    help = (
        "Write tenants and their live integrations (secrets included) to an encrypted bundle. "
        f"The passphrase comes from {bundles.PASSPHRASE_ENV} or is asked for."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--tenant",
            action="append",
            default=[],
            metavar="NAME",
            help="Export this tenant only (repeat for several); default: every live tenant.",
        )
        parser.add_argument("--output", required=True, metavar="FILE", help="The bundle file.")

    def handle(self, *args, tenant: list[str], output: str, **options):
        path = Path(output)
        if not path.parent.is_dir():
            raise CommandError(f"No such directory: {path.parent}")
        try:
            passphrase = bundles.read_passphrase(confirm=True)
            bundles.check_passphrase(passphrase)
            tenants = export_tenants(names=tenant)
        except (bundles.BundleError, TenantNotFound) as error:
            raise CommandError(str(error)) from None
        total = count_integrations(tenants)
        try:
            with Progress(total, self.stdout, unit="integration", desc="exported") as progress:
                payload, exported = export_payload(tenants=tenants, progress=progress)
        except ExportFailed as error:
            raise CommandError(str(error)) from None
        data = bundles.seal(payload, passphrase)
        del payload
        with transaction.atomic():
            # Audited first: if the file cannot be written the events roll back with it.
            integration_reveals_record(
                integrations=exported, actor=Actor.for_command("export_integrations")
            )
            _write_private(path, data)
        self.stdout.write(
            f"Exported {len(tenants)} tenant(s) and {len(exported)} integration(s) to {path} "
            f"({len(data)} bytes, encrypted)."
        )


def _write_private(path: Path, data: bytes) -> None:
    """Write `data` to `path` at once, readable by its owner only (0600); CommandError if the
    directory is not writable."""
    try:
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        raise CommandError(f"Cannot write to {path.parent}: {error.strerror}.") from None
    try:
        with os.fdopen(fd, "wb") as file:  # mkstemp creates it 0600
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        raise CommandError(f"Cannot write {path}: {error.strerror}.") from None
