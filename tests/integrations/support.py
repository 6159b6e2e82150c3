from django.db import connection


def raw_column(integration, field_name: str) -> str:
    """The column as the database holds it, read around the model field."""
    model = type(integration)
    table = connection.ops.quote_name(model._meta.db_table)
    column = connection.ops.quote_name(model._meta.get_field(field_name).column)
    pk = connection.ops.quote_name(model._meta.pk.column)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE {pk} = %s", [integration.pk])  # noqa: S608
        return cursor.fetchone()[0]
