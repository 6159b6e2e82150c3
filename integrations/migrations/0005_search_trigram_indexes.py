"""Trigram indexes for the tenant list's search (integrations.search), on PostgreSQL only.

The search is `UPPER(column::text) LIKE UPPER('%query%')` (Django's icontains) on each
searchable column: a GIN trigram index on that very expression lets each branch of the
search's UNION be an index scan. Other databases get nothing (they scan; fine for tests).

A new provider adds the same for its own non-secret fields in its migration (CONTRIBUTING.md);
tests/integrations/test_search_indexes.py checks that every searchable column has one.
"""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations

from integrations.migration_helpers import trigram_indexes

SEARCHED = [
    ("tenants_tenant", "name"),
    ("tenants_tenant", "display_name"),
    ("integrations_integration", "ident"),
    ("integrations_datasiftintegration", "username"),
    ("integrations_salesforceintegration", "consumer_key"),
    ("integrations_salesforceintegration", "username"),
    ("integrations_sendgridintegration", "account"),
    ("integrations_twiliointegration", "account"),
]


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0004_versions_one_type_discriminator"),
        ("tenants", "0005_tenant_name_rule"),
    ]

    operations = [
        TrigramExtension(),  # CREATE EXTENSION IF NOT EXISTS pg_trgm; nothing elsewhere
        trigram_indexes(SEARCHED),
    ]
