"""The audit trail's indexes: every event's INSERT pays for each, so none is redundant, and
migration 0007 drops the one that was without touching the foreign key."""

import pytest
from django.core.management import call_command
from django.db import connection

from tenants.models import AuditEvent

pytestmark = pytest.mark.django_db(transaction=True)

TABLE = AuditEvent._meta.db_table


def indexes_and_keys() -> dict[str, dict]:
    with connection.cursor() as cursor:
        return connection.introspection.get_constraints(cursor, TABLE)


def indexes_by_columns() -> dict[tuple[str, ...], str]:
    return {
        tuple(details["columns"]): name
        for name, details in indexes_and_keys().items()
        if details["index"] and not details["primary_key"]
    }


def tenant_key_is_there() -> bool:
    return any(
        details["foreign_key"] == ("tenants_tenant", "id") and details["columns"] == ["tenant_id"]
        for details in indexes_and_keys().values()
    )


def test_no_index_on_tenant_alone_as_audit_by_integration_leads_with_it():
    indexes = indexes_by_columns()

    assert ("tenant_id",) not in indexes
    assert indexes[("tenant_id", "integration_ident", "id")] == "audit_by_integration"
    assert ("occurred_at",) in indexes
    assert tenant_key_is_there()


def test_the_migration_drops_only_the_index_and_its_reverse_brings_it_back():
    call_command("migrate", "tenants", "0006", verbosity=0)
    try:
        assert ("tenant_id",) in indexes_by_columns()
        assert tenant_key_is_there()
    finally:
        call_command("migrate", "tenants", verbosity=0)

    assert ("tenant_id",) not in indexes_by_columns()
    assert tenant_key_is_there()
