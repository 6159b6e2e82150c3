"""The audit trail's indexes: every event's INSERT pays for each, so none is redundant, and
migration 0007 drops the one that was (AuditEvent.tenant's own) without touching the foreign
key: back and forth with rows, the foreign key and PROTECT intact, lookups by tenant still
indexed, the index already gone or renamed, and a reverse that failed half-way on
PostgreSQL."""

from io import StringIO

import psycopg
import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection
from django.db.models import ProtectedError

from tenants.models import AuditEvent, Tenant
from tests.factories import TenantFactory

pytestmark = pytest.mark.django_db(transaction=True)

TABLE = AuditEvent._meta.db_table
INDEX = "tenants_auditevent_tenant_id_45dbc5b7"


def constraints() -> dict[str, dict]:
    with connection.cursor() as cursor:
        return connection.introspection.get_constraints(cursor, TABLE)


def tenant_only_indexes() -> list[str]:
    return sorted(
        name
        for name, details in constraints().items()
        if details["index"] and details["columns"] == ["tenant_id"] and not details["primary_key"]
    )


def tenant_keys() -> list[str]:
    return [
        name
        for name, details in constraints().items()
        if details["foreign_key"] == ("tenants_tenant", "id")
        and details["columns"] == ["tenant_id"]
    ]


def events(tenant, n: int) -> list[AuditEvent]:
    return AuditEvent.objects.bulk_create(
        AuditEvent(
            actor="tests", channel="api", action="create", tenant=tenant, integration_ident=f"i{i}"
        )
        for i in range(n)
    )


def migrate(target: str | None = None):
    args = ("tenants", target) if target else ("tenants",)
    call_command("migrate", *args, verbosity=0)


def indexes_by_columns() -> dict[tuple[str, ...], str]:
    return {
        tuple(details["columns"]): name
        for name, details in constraints().items()
        if details["index"] and not details["primary_key"]
    }


def test_no_index_on_tenant_alone_as_audit_by_integration_leads_with_it():
    indexes = indexes_by_columns()

    assert ("tenant_id",) not in indexes
    assert indexes[("tenant_id", "integration_ident", "id")] == "audit_by_integration"
    assert ("occurred_at",) in indexes
    assert tenant_keys()


def test_the_migration_drops_only_the_index_and_its_reverse_brings_it_back():
    migrate("0006")
    try:
        assert ("tenant_id",) in indexes_by_columns()
        assert tenant_keys()
    finally:
        migrate()

    assert ("tenant_id",) not in indexes_by_columns()
    assert tenant_keys()


def test_the_name_is_the_one_django_gives_the_index():
    with connection.schema_editor() as editor:
        name = editor._create_index_name(TABLE, ["tenant_id"], suffix="")
    assert name == INDEX


def test_back_and_forth_three_times_with_rows_keeps_rows_key_and_one_index_at_a_time():
    tenant = TenantFactory(name="acme", display_name="Acme")
    events(tenant, 30)
    key_before = tenant_keys()
    assert key_before
    try:
        for _ in range(3):
            migrate("0006")
            assert tenant_only_indexes() == [INDEX]
            assert tenant_keys() == key_before
            migrate()
            assert tenant_only_indexes() == []
            assert tenant_keys() == key_before
    finally:
        migrate()
    assert AuditEvent.objects.filter(tenant=tenant).count() == 30


def test_the_key_still_refuses_a_tenant_that_does_not_exist():
    with pytest.raises(IntegrityError):
        AuditEvent.objects.create(
            actor="tests", channel="api", action="create", tenant_id=987654321
        )
    assert not AuditEvent.objects.filter(tenant_id=987654321).exists()


def test_protect_still_blocks_deleting_a_tenant_with_events():
    tenant = TenantFactory(name="acme", display_name="Acme")
    events(tenant, 2)

    with pytest.raises(ProtectedError):
        Tenant.all_objects.filter(pk=tenant.pk).delete()
    with pytest.raises(IntegrityError), connection.cursor() as cursor:
        cursor.execute("DELETE FROM tenants_tenant WHERE id = %s", [tenant.pk])
    assert Tenant._base_manager.filter(pk=tenant.pk).exists()
    assert AuditEvent.objects.filter(tenant=tenant).count() == 2


def test_makemigrations_check_is_clean():
    out = StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()


def test_an_index_already_gone_or_renamed():
    try:
        migrate("0006")
        with connection.cursor() as cursor:
            cursor.execute(f"DROP INDEX {connection.ops.quote_name(INDEX)}")
        migrate()  # nothing to drop: no error
        assert tenant_only_indexes() == []

        migrate("0006")
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(f'ALTER INDEX "{INDEX}" RENAME TO "audit_tenant_renamed"')
            else:
                cursor.execute(f'DROP INDEX "{INDEX}"')
                cursor.execute(f'CREATE INDEX "audit_tenant_renamed" ON "{TABLE}" ("tenant_id")')
        assert tenant_only_indexes() == ["audit_tenant_renamed"]
        migrate()
        assert tenant_only_indexes() == []
        migrate("0006")
        assert tenant_only_indexes() == [INDEX]
    finally:
        migrate()
    assert tenant_keys()


@pytest.mark.postgres
def test_postgresql_lookup_by_tenant_and_protects_check_use_an_index():
    tenants = [TenantFactory(name=f"t{i}", display_name=f"T{i}") for i in range(40)]
    for tenant in tenants:
        events(tenant, 500)
    target = tenants[7]
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {TABLE}")
        queries = [
            # Without ordering: with the model's (-occurred_at, -id) or -id a LIMIT lets the
            # planner walk another index, whatever indexes tenant_id.
            AuditEvent.objects.filter(tenant=target).order_by(),
            AuditEvent.objects.filter(tenant__in=[target]).order_by().values("id"),  # PROTECT
            AuditEvent.objects.filter(tenant=target, integration_ident="i3").order_by("-id"),
        ]
        for queryset in queries:
            sql, params = queryset.query.sql_with_params()
            cursor.execute(f"EXPLAIN {sql}", params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            assert "audit_by_integration" in plan, plan
            assert "Seq Scan" not in plan, plan


def _blocker():
    """Another session holding a write on the audit table open: CREATE INDEX CONCURRENTLY
    waits for it (as it would for any long write of a live app)."""
    settings = connection.settings_dict
    blocker = psycopg.connect(
        host=settings["HOST"],
        port=settings["PORT"],
        dbname=settings["NAME"],
        user=settings["USER"],
        password=settings["PASSWORD"],
    )
    columns = "occurred_at, actor, channel, request_id, action, changes, integration_ident"
    insert = f"INSERT INTO {TABLE} ({columns}, integration_type, api_token_prefix) "
    blocker.execute(insert + "VALUES (now(), 'x', 'api', '', 'create', '{}', '', '', '')")
    return blocker


@pytest.mark.postgres
def test_a_reverse_that_timed_out_then_ran_again_leaves_a_valid_index():
    """The app's connections carry statement_timeout (30 s by default): a reverse migration on
    a big or busy audit table can be cancelled inside CREATE INDEX CONCURRENTLY, which leaves
    an INVALID index under the name. Running the reverse again must end with a valid index,
    not skip it with IF NOT EXISTS."""
    blocker = _blocker()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SET statement_timeout = '300ms'")
        with pytest.raises(Exception, match=r"statement timeout|canceling"):
            migrate("0006")
    finally:
        blocker.rollback()
        blocker.close()
        with connection.cursor() as cursor:
            cursor.execute("RESET statement_timeout")
    try:
        migrate("0006")  # the operator runs it again
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "WHERE c.relname = %s",
                [INDEX],
            )
            assert cursor.fetchall() == [(True,)]
    finally:
        migrate()
    assert tenant_only_indexes() == []
