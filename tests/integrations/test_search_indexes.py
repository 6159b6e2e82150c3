"""On PostgreSQL every column the tenant search reads has a trigram index on the expression
the search compares (migration 0005): a provider added without one fails here
(CONTRIBUTING.md). That the planner uses them at 10,000 tenants: see
tests/benchmarks/bench_search.py."""

import pytest
from django.db import connection

from integrations.migration_helpers import trigram_index_name
from integrations.models import Integration
from integrations.providers import all_providers
from integrations.search import searchable_fields
from tenants.models import Tenant

pytestmark = pytest.mark.postgres


def searched_columns() -> list[tuple[str, str]]:
    columns = [
        (Tenant._meta.db_table, Tenant._meta.get_field("name").column),
        (Tenant._meta.db_table, Tenant._meta.get_field("display_name").column),
        (Integration._meta.db_table, Integration._meta.get_field("ident").column),
    ]
    for provider in all_providers():
        columns += [(provider._meta.db_table, f.column) for f in searchable_fields(provider)]
    return columns


@pytest.mark.django_db
def test_every_searched_column_has_a_trigram_index_on_what_the_search_compares():
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename, indexname, indexdef FROM pg_indexes")
        indexes = {(table, name): definition for table, name, definition in cursor.fetchall()}

    for table, column in searched_columns():
        definition = indexes.get((table, trigram_index_name(table, column)))
        assert definition is not None, f"no trigram index on {table}.{column}"
        assert f"upper(({column})::text) gin_trgm_ops" in definition, definition
