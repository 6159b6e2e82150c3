"""Key rotation: re-encrypt every stored secret under the newest key in FIELD_ENCRYPTION_KEYS.

Covers live and deleted integrations and every kept version. Works in batches, each in its
own transaction, so an interruption (Ctrl-C, a lost connection) leaves only whole batches
done; values already under the newest key are skipped, so running it again finishes the job.
A value that no configured key decrypts is named (record and field) and left as it is; the
others are rotated; the command then exits non-zero. MultiFernet.rotate does the work: the
plaintext never reaches this code.

`--check` writes nothing and counts the values under the newest key, under an older key and
undecryptable.
"""

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.core.management.base import BaseCommand, CommandError
from django.db import models, transaction

from integrations import encryption
from integrations.fields import SEALED_PREFIX, SecretField
from integrations.management.progress import Progress
from integrations.models import IntegrationVersion
from integrations.providers import all_providers
from integrations.sealed import SealedSecret

NEWEST, OLDER, UNREADABLE = "under the newest key", "under an older key", "undecryptable"


@dataclass
class Outcome:
    counts: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret (live, deleted and versioned) under the newest key in "
        "FIELD_ENCRYPTION_KEYS, in batches; resumable. Put the new key first, run this, then "
        "drop the old key. --check only counts."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=500, help="Rows per transaction.")
        parser.add_argument("--check", action="store_true", help="Count only; write nothing.")

    def handle(self, *args, batch_size: int, check: bool, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        tables = [*((p, _IntegrationSecrets(p)) for p in all_providers()), (None, _Versions())]
        total = sum(table.count() for _, table in tables)
        outcome = Outcome()
        started = time.monotonic()
        with self._progress(total) as progress:
            for _, table in tables:
                for batch in table.batches(batch_size):
                    with transaction.atomic():
                        for row in table.lock(batch):
                            table.handle(row, outcome, write=not check)
                    progress(len(batch))
        self._report(outcome, total, time.monotonic() - started, check)

    def _progress(self, total: int):
        """A tqdm bar on a terminal, plain lines (every 10%) otherwise."""
        return Progress(total, self.stdout, unit="row")

    def _report(self, outcome: Outcome, rows: int, seconds: float, check: bool) -> None:
        counts = outcome.counts
        if check:
            self.stdout.write(
                f"{counts[NEWEST]} value(s) {NEWEST}, {counts[OLDER]} {OLDER}, "
                f"{counts[UNREADABLE]} {UNREADABLE} (in {rows} row(s))."
            )
        else:
            self.stdout.write(
                f"Re-encrypted {counts['rotated']} secret value(s) in {rows} row(s) in "
                f"{seconds:.1f} s; {counts[NEWEST]} already under the newest key."
            )
        for failure in outcome.failures:
            self.stderr.write(f"Cannot decrypt: {failure}")
        if outcome.failures:
            raise CommandError(
                f"{len(outcome.failures)} value(s) could not be decrypted with any configured "
                "key (listed above); everything else was handled. Re-enter those secrets, or "
                "put the key that opens them back into FIELD_ENCRYPTION_KEYS and run again."
            )


def _classify(ciphertext: str) -> str:
    if encryption.is_under_newest_key(ciphertext):
        return NEWEST
    return OLDER if encryption.can_decrypt(ciphertext) else UNREADABLE


class _Table:
    """Rows holding secrets, read in primary-key order, one batch at a time."""

    queryset: models.QuerySet

    def count(self) -> int:
        return self.queryset.count()

    def batches(self, size: int) -> Iterator[list[int]]:
        last = 0
        while True:
            batch = list(
                self.queryset.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:size]
            )
            if not batch:
                return
            yield batch
            last = batch[-1]

    def lock(self, batch: list[int]):
        return self.queryset.filter(pk__in=batch).select_for_update().order_by("pk")

    def handle(self, row, outcome: Outcome, *, write: bool) -> None:
        raise NotImplementedError

    def _rotate(self, ciphertext: str, outcome: Outcome, label: str) -> str | None:
        """The rotated ciphertext, or None when there is nothing to write."""
        kind = _classify(ciphertext)
        outcome.counts[kind] += 1
        if kind == UNREADABLE:
            outcome.failures.append(label)
        if kind != OLDER:
            return None
        outcome.counts["rotated"] += 1
        return encryption.rotate(ciphertext)


class _IntegrationSecrets(_Table):
    def __init__(self, provider):
        self.provider = provider
        self.names = provider.secret_field_names()
        self.queryset = provider.all_objects.non_polymorphic().select_related("tenant")

    def handle(self, row, outcome: Outcome, *, write: bool) -> None:
        changed = {}
        for name in self.names:
            value = getattr(row, name)
            if not value:
                continue
            label = f"{self.provider.provider_key} integration {row.tenant.name}/{row.ident} "
            label += f"(pk {row.pk}{', deleted' if row.deleted_at else ''}), field {name}"
            rotated = self._rotate(value.ciphertext, outcome, label)
            if rotated is not None:
                changed[name] = rotated
        if changed and write:
            # Raw ciphertext, through the queryset: no timestamps change, nothing decrypts.
            self.provider.all_objects.filter(pk=row.pk).update(
                **{name: SealedSecret.from_ciphertext(value) for name, value in changed.items()}
            )


class _Versions(_Table):
    def __init__(self):
        self.queryset = IntegrationVersion.objects.select_related("integration")

    def handle(self, row, outcome: Outcome, *, write: bool) -> None:
        provider = row.integration.get_real_instance_class()
        secrets = {f.name for f in provider.credential_fields() if isinstance(f, SecretField)}
        values = dict(row.values)
        changed = False
        for name in secrets & values.keys():
            if not values[name]:
                continue
            label = f"version {row.number} of integration pk {row.integration_id}, field {name}"
            rotated = self._rotate(values[name].removeprefix(SEALED_PREFIX), outcome, label)
            if rotated is not None:
                values[name] = SEALED_PREFIX + rotated
                changed = True
        if changed and write:
            IntegrationVersion.objects.filter(pk=row.pk).update(values=values)
