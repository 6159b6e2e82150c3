"""Retention: hard-delete integrations soft-deleted longer ago than --older-than, with all
their versions. Their audit events stay (they hold no secrets) and keep naming them by id,
type and primary key. A dry run by default: it prints what it would delete; --yes deletes."""

import re
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from integrations.models import Integration, IntegrationVersion
from integrations.providers import provider_of

AGE = re.compile(r"\A([1-9][0-9]{0,4})([dh])\Z")
UNITS = {"d": "days", "h": "hours"}


def parse_age(text: str) -> timedelta:
    """'90d' or '12h' as a timedelta; CommandError otherwise."""
    match = AGE.match(text)
    if match is None:
        raise CommandError(
            f"--older-than takes a number of days or hours, e.g. 90d or 12h; not {text!r}."
        )
    return timedelta(**{UNITS[match[2]]: int(match[1])})


class Command(BaseCommand):
    help = (
        "Hard-delete integrations soft-deleted before --older-than (e.g. 90d) and their "
        "versions, keeping their audit events. Dry run unless --yes."
    )

    def add_arguments(self, parser):
        parser.add_argument("--older-than", required=True, help="e.g. 90d (days) or 12h (hours)")
        parser.add_argument("--yes", action="store_true", help="Really delete.")

    def handle(self, *args, older_than: str, yes: bool, **options):
        cutoff = timezone.now() - parse_age(older_than)
        doomed = Integration.all_objects.non_polymorphic().filter(deleted_at__lt=cutoff)
        count = doomed.count()
        versions = IntegrationVersion.objects.filter(integration__in=doomed).count()
        what = (
            f"{count} integration(s) deleted before {cutoff:%Y-%m-%d %H:%M} UTC "
            f"and their {versions} version(s)"
        )
        if not yes:
            self.stdout.write(f"Would purge {what}. Run again with --yes to purge them.")
            return
        with transaction.atomic():
            IntegrationVersion.objects.filter(integration__in=doomed).delete()
            for integration in doomed.select_for_update():
                # As its provider's row, so that the provider's table is purged too.
                provider = provider_of(integration)
                provider.all_objects.get(pk=integration.pk).delete()
        self.stdout.write(f"Purged {what}; their audit events are kept.")
