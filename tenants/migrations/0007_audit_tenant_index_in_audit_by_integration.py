"""AuditEvent.tenant loses its own index: audit_by_integration leads with tenant_id.

Django's AlterField(db_index=False) would drop and re-add the foreign key on PostgreSQL, which
checks every row of the audit trail under a lock that stops writes, and rebuild the whole
table on SQLite. Dropping the index is all the database needs: found by its columns (its
name is Django's hash), without a lock on writers on PostgreSQL (CONCURRENTLY, hence not
atomic).
"""

import django.db.models.deletion
from django.db import migrations, models

TABLE = "tenants_auditevent"
# The name Django gave it (0001); the reverse creates it again under that name.
INDEX = "tenants_auditevent_tenant_id_45dbc5b7"


def drop_tenant_index(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, TABLE)
    concurrently = " CONCURRENTLY" if connection.vendor == "postgresql" else ""
    for name, details in constraints.items():
        alone = details["columns"] == ["tenant_id"]
        if alone and details["index"] and not (details["primary_key"] or details["unique"]):
            schema_editor.execute(
                f"DROP INDEX{concurrently} IF EXISTS {schema_editor.quote_name(name)}"
            )


def create_tenant_index(apps, schema_editor):
    """The reverse. A CREATE INDEX CONCURRENTLY that fails (the statement timeout on a big
    table, a cancel) leaves an INVALID index under its name, which IF NOT EXISTS would then
    keep for good: whatever is under the name is dropped first, and again on failure."""
    concurrently = " CONCURRENTLY" if schema_editor.connection.vendor == "postgresql" else ""
    quote = schema_editor.quote_name
    drop = f"DROP INDEX{concurrently} IF EXISTS {quote(INDEX)}"
    schema_editor.execute(drop)
    try:
        schema_editor.execute(
            f"CREATE INDEX{concurrently} {quote(INDEX)} ON {quote(TABLE)} (tenant_id)"
        )
    except Exception:
        schema_editor.execute(drop)
        raise


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("tenants", "0006_audit_action_verify"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="auditevent",
                    name="tenant",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="audit_events",
                        to="tenants.tenant",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunPython(drop_tenant_index, create_tenant_index, elidable=False),
            ],
        ),
    ]
