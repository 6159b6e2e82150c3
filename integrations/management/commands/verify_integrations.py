"""Re-verify integrations with their providers in bulk: the nightly job (README: Verifying
credentials).

Each live integration of a live tenant (of --tenant only; whose last verification ended in
--status only) is verified as the API's `verify` route does it, --concurrency at a time, its
outcome stored and audited (actor "manage.py verify_integrations"). A progress bar on a
terminal (plain lines every 10% otherwise), then a table of outcomes per provider, the time
taken and the rate.

Exit status: 0 when every integration verified is ok (or there was none), 1 when any was
rejected or unreachable (so that a cron job or CI alerts), 2 for a usage error.
"""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from integrations.management.progress import Progress
from integrations.models import Integration
from integrations.providers import all_providers
from integrations.selectors import integrations_to_verify
from integrations.verification import STATUS_FILTERS, VerificationResult, VerificationStatus
from integrations.verification_services import (
    MAX_CONCURRENCY,
    SKIPPED,
    VerificationSummary,
    integration_verify_many,
)
from tenants.actors import Actor
from tenants.exceptions import TenantNotFound
from tenants.selectors import tenant_get_live

COLUMNS = [*VerificationStatus.values, SKIPPED]


class Command(BaseCommand):
    help = (
        "Verify integrations with their providers (the cheapest authenticated call each offers) "
        "and record the outcomes; --tenant and --status narrow the run, --concurrency sets "
        f"how many run at once (1 to {MAX_CONCURRENCY}, default 8). Prints a table of outcomes "
        "per provider. Exit status 0 when all are ok, 1 when any is rejected or unreachable, "
        "2 for a usage error: fit for a nightly job."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--tenant", help="Only this tenant's integrations (its name).")
        parser.add_argument(
            "--status",
            choices=STATUS_FILTERS,
            help="Only integrations whose last verification ended so ('never': not yet).",
        )
        parser.add_argument(
            "--concurrency",
            type=int,
            default=8,
            help=f"Verifications at once, 1 to {MAX_CONCURRENCY} (default 8).",
        )

    def handle(
        self, *args: Any, tenant: str | None, status: str | None, concurrency: int, **options: Any
    ) -> None:
        if not 1 <= concurrency <= MAX_CONCURRENCY:
            raise CommandError(f"--concurrency must be from 1 to {MAX_CONCURRENCY}.", returncode=2)
        tenant_obj = None
        if tenant is not None:
            try:
                tenant_obj = tenant_get_live(name=tenant)
            except TenantNotFound as error:
                raise CommandError(str(error), returncode=2) from None
        integrations = integrations_to_verify(tenant=tenant_obj, status=status)
        if not integrations:
            self.stdout.write("No integration to verify.")
            return
        with Progress(len(integrations), self.stdout, unit="integration", desc="Verifying") as bar:

            def advance(integration: Integration, result: VerificationResult | None) -> None:
                bar(1)

            summary = integration_verify_many(
                integrations=integrations,
                actor=Actor.for_command("verify_integrations"),
                concurrency=concurrency,
                on_result=advance,
            )
        self.stdout.write(summary_table(summary))
        self.stdout.write(
            f"Verified {summary.total} integration(s) in {summary.seconds:.1f} s "
            f"({summary.rate:.1f}/s, concurrency {concurrency})."
        )
        if summary.failed:
            by_status = summary.by_status()
            raise CommandError(
                f"{by_status[VerificationStatus.REJECTED]} rejected, "
                f"{by_status[VerificationStatus.UNREACHABLE]} unreachable: see "
                "`GET .../integrations?status=rejected`, the staff pages or the admin.",
                returncode=1,
            )


def summary_table(summary: VerificationSummary) -> str:
    """The outcomes as a text table: a row per provider that had any, a total row, a column
    per status (ok, rejected, unreachable, skipped)."""
    providers = [p.provider_key for p in all_providers()]
    rows = [["provider", *COLUMNS, "total"]]
    for key in providers:
        counts = [summary.counts[(key, status)] for status in COLUMNS]
        if sum(counts):
            rows.append([key, *map(str, counts), str(sum(counts))])
    totals = summary.by_status()
    rows.append(["total", *(str(totals[status]) for status in COLUMNS), str(summary.total)])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    lines.insert(len(lines) - 1, lines[1])
    return "\n".join(lines)
