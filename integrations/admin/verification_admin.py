"""The integration admin's view of verification: a status column (a badge, the same as the staff
cards'), a status filter, and the "Verify selected" action.

The action verifies the selection with bounded concurrency (integration_verify_many) and
reports what happened in one message: how many ended in each status, and how long it took.
A selection larger than MAX_SELECTED is refused (a request cannot wait that long): the
`verify_integrations` command is the way to verify in bulk.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib import admin, messages
from django.db import connection
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.timezone import localtime

from integrations import selectors
from integrations.models import Integration
from integrations.providers import all_providers
from integrations.verification import STATUS_FILTERS, VerificationResult, VerificationStatus
from integrations.verification_services import SKIPPED, integration_verify_many
from integrations.web.verification_pages import STATUS_WORDS, verification_line
from tenants.admin_helpers import admin_actor

# At most this many integrations per run of the action (each may wait for its provider up to
# VERIFY_CONNECT_TIMEOUT + VERIFY_READ_TIMEOUT seconds), this many at a time.
MAX_SELECTED = 100
CONCURRENCY = 8
# How many failing integrations the summary names.
NAMED_FAILURES = 10


@admin.display(description="verified", ordering="last_verification")
def verification_badge(integration: Integration) -> SafeString:
    """The status badge of `integration`'s last verification, its word in text (never the
    colour alone), when and the detail in its title."""
    line = verification_line(integration)
    title = "Never verified with the provider"
    if line.when is not None:
        title = f"{localtime(line.when):%Y-%m-%d %H:%M}: {line.detail}"
    return format_html(
        '<span class="badge verification verification-{}" title="{}">'
        '<span aria-hidden="true">{}</span> {}</span>',
        line.status,
        title,
        line.symbol,
        line.word,
    )


class VerificationListFilter(admin.SimpleListFilter):
    """By the last verification's outcome (?verification=rejected), `never` for none yet."""

    title = "verification"
    parameter_name = "verification"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(status, STATUS_WORDS[status]) for status in STATUS_FILTERS]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[Integration]
    ) -> QuerySet[Integration]:
        value = self.value()
        if value not in STATUS_FILTERS:
            return queryset
        return queryset.filter(last_verification=selectors.verification_status_value(value))


def _live_selected(queryset: QuerySet[Integration]) -> list[Integration]:
    """The live integrations of live tenants among the selection, each of its provider's class
    with its tenant loaded: one query per provider."""
    pks = queryset.filter(deleted_at__isnull=True, tenant__deleted_at__isnull=True).values("pk")
    found: list[Integration] = []
    for provider in all_providers():
        rows = provider.objects.non_polymorphic().select_related("tenant").filter(pk__in=pks)
        found.extend(rows)
    found.sort(key=lambda integration: (integration.tenant.name, integration.ident))
    return found


def summary_sentence(counts: dict[str, int], seconds: float, not_live: int) -> str:
    """E.g. "Verified 5 integrations in 1.2 s: 3 OK, 1 rejected, 1 unreachable."."""
    total = sum(counts.values())
    parts = [
        f"{counts[status]} {STATUS_WORDS[status] if status == VerificationStatus.OK else status}"
        for status in VerificationStatus.values
        if counts.get(status)
    ]
    if counts.get(SKIPPED):
        parts.append(f"{counts[SKIPPED]} skipped (deleted or changed meanwhile)")
    sentence = f"Verified {total} integration{'s' if total != 1 else ''} in {seconds:.1f} s"
    sentence += f": {', '.join(parts)}." if parts else "."
    if not_live:
        sentence += f" {not_live} deleted (or of a deleted tenant) not verified."
    return sentence


def _named(integrations: Iterable[Integration]) -> str:
    names = [f"{i.tenant.name}/{i.ident}" for i in integrations]
    shown = ", ".join(names[:NAMED_FAILURES])
    more = len(names) - NAMED_FAILURES
    return shown + (f" and {more} more" if more > 0 else "")


@admin.action(
    description="Verify selected integrations with their providers", permissions=["change"]
)
def verify_selected(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Integration]
) -> None:
    selected = queryset.count()
    if selected > MAX_SELECTED:
        modeladmin.message_user(
            request,
            f"{selected} integrations selected; verify at most {MAX_SELECTED} at once here "
            "(use `manage.py verify_integrations` for more). Nothing was verified.",
            messages.WARNING,
        )
        return
    integrations = _live_selected(queryset)
    # Worker threads have their own database connections, which cannot see what this one has
    # not committed: inside a transaction (ATOMIC_REQUESTS, a test) they run here, one by one.
    concurrency = 1 if connection.in_atomic_block else max(1, min(CONCURRENCY, len(integrations)))
    failed: list[Integration] = []

    def remember(integration: Integration, result: VerificationResult | None) -> None:
        if result is not None and result.failed:
            failed.append(integration)

    summary = integration_verify_many(
        integrations=integrations,
        actor=admin_actor(request),
        concurrency=concurrency,
        on_result=remember,
    )
    modeladmin.message_user(
        request,
        summary_sentence(summary.by_status(), summary.seconds, selected - len(integrations)),
        messages.WARNING if summary.failed else messages.SUCCESS,
    )
    if failed:
        failed.sort(key=lambda integration: (integration.tenant.name, integration.ident))
        modeladmin.message_user(request, f"Failing: {_named(failed)}.", messages.WARNING)
