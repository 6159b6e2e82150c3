"""Operations that migrations share. Kept stable: applied migrations import them."""

from django.db import migrations


def trigram_index_name(table: str, column: str) -> str:
    return f"{table}_{column}_trgm"[:63]


def trigram_indexes(columns: list[tuple[str, str]]) -> migrations.RunPython:
    """GIN trigram indexes on UPPER(column::text), the expression Django's `icontains` compares
    on PostgreSQL, for each (table, column). A no-op on other databases. Needs the pg_trgm
    extension (django.contrib.postgres.operations.TrigramExtension) first."""

    def create(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        quote = schema_editor.quote_name
        for table, column in columns:
            schema_editor.execute(
                f"CREATE INDEX IF NOT EXISTS {quote(trigram_index_name(table, column))} "
                f"ON {quote(table)} USING gin (UPPER({quote(column)}::text) gin_trgm_ops)"
            )

    def drop(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for table, column in columns:
            name = schema_editor.quote_name(trigram_index_name(table, column))
            schema_editor.execute(f"DROP INDEX IF EXISTS {name}")

    return migrations.RunPython(create, drop, elidable=False)
