"""`manage.py import_integrations FILE [--dry-run]`: read a bundle of `export_integrations` into
this registry.

Every record is checked with the API's rules first (integrations/bundle_import.py); then, in one
transaction, missing tenants are created and changed integrations upserted through the services
(audited, channel "command"); unchanged ones are not touched. Any invalid record, a wrong
passphrase or a changed or truncated file: a CommandError and nothing written. `--dry-run`
prints what would change, per record, and writes nothing.
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from integrations import bundles
from integrations.bundle_import import (
    CREATE,
    REPLACE,
    UNCHANGED,
    ImportInvalid,
    ImportPlan,
    count_records,
    import_apply,
    import_plan,
)
from integrations.management.progress import Progress
from tenants.actors import Actor


class Command(BaseCommand):
    help = (
        "Import tenants and integrations from a bundle written by export_integrations, through "
        f"the services (audited). The passphrase comes from {bundles.PASSPHRASE_ENV} or is "
        "asked for. --dry-run prints what would change and writes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", metavar="FILE", help="A bundle from export_integrations.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Print what would change; write nothing."
        )

    def handle(self, *args, file: str, dry_run: bool, **options):
        try:
            data = Path(file).read_bytes()
        except OSError as error:
            raise CommandError(f"Cannot read {file}: {error.strerror}.") from None
        try:
            bundles.read_header(data)  # not a bundle: say so before asking for a passphrase
            payload = bundles.open_bundle(data, bundles.read_passphrase(confirm=False))
        except bundles.BundleError as error:
            raise CommandError(f"{error} Nothing was written.") from None
        del data
        try:
            with transaction.atomic():
                total = count_records(payload)
                with Progress(total, self.stdout, unit="record", desc="checked") as progress:
                    plan = import_plan(payload=payload, progress=progress)
                if not dry_run:
                    with Progress(plan.changes, self.stdout, unit="record", desc="written") as p:
                        import_apply(
                            plan=plan, actor=Actor.for_command("import_integrations"), progress=p
                        )
        except ImportInvalid as error:
            raise CommandError(str(error)) from None
        self._report(plan, dry_run=dry_run)

    def _report(self, plan: ImportPlan, *, dry_run: bool) -> None:
        for step in plan.tenants:
            action = "create" if step.action == CREATE else "exists"
            note = f" ({step.note})" if step.note else ""
            self.stdout.write(f"tenant {step.name}: {action}{note}")
        for record in plan.records:
            self.stdout.write(f"{record.label}: {record.action}")
        tenants = plan.count(CREATE, of_tenants=True)
        created, replaced = plan.count(CREATE), plan.count(REPLACE)
        unchanged = plan.count(UNCHANGED)
        if dry_run:
            self.stdout.write(
                f"Dry run, nothing written: would create {tenants} tenant(s), create {created} "
                f"and replace {replaced} integration(s), {unchanged} unchanged."
            )
        else:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Imported: created {tenants} tenant(s), created {created} and replaced "
                    f"{replaced} integration(s), {unchanged} unchanged."
                )
            )
