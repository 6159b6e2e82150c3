"""A fresh benchmark database: dropped, created, migrated and filled in seconds.

Tenants t000001 ... tNNNNNN hold one integration of every provider each (tests/bulk.py: bulk
inserts derived from the provider models, secrets encrypted as the app stores them). The
floors' table `bench_floor` gets the same records, copied in SQL. Then an all-tenants API token
(every scope) and a staff superuser with a logged-in session. Call with Django set up on the
app's settings (bench/run.py does).
"""

import re
import time
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from bench import floor_sql
from bench.ops import tenant_name

BATCH = 500
DISPLAY = ["Acme Corp {name}", "Globex Ltd {name}"]  # `?q=corp` matches half the tenants
STAFF_USER = "bench-admin"


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def recreate_database(url: str) -> None:
    """DROP and CREATE the database `url` names, which must say "bench" (never a real one)."""
    name = database_name(url)
    if not re.fullmatch(r"[a-z0-9_]*bench[a-z0-9_]*", name):
        raise SystemExit(f"Refusing to drop database {name!r}: its name must contain 'bench'.")
    maintenance = urlunsplit(urlsplit(url)._replace(path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True, connect_timeout=5) as connection:
        drop_database(connection, name)
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(connection: psycopg.Connection, name: str, *, attempts: int = 50) -> None:
    """DROP DATABASE IF EXISTS `name` WITH (FORCE), its sessions ended, on `connection` (an
    autocommit connection to another database). Raises psycopg.Error.

    FORCE ends the sessions the role may signal. An autovacuum worker in the database is none
    of them for a role that is not a superuser (PostgreSQL 15 answers InsufficientPrivilege,
    "must be a member of the role whose process is being terminated"): it ends by itself
    within moments, so the drop is tried again, every 0.1 s, `attempts` times at most."""
    statement = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    for attempt in range(attempts):
        try:
            connection.execute(statement)
            return
        except psycopg.errors.InsufficientPrivilege:
            if attempt == attempts - 1:
                raise
            time.sleep(0.1)


def migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def _copy(cursor, model, fields, instances) -> None:
    """COPY `instances` of `model` into its table: the values `bulk_create` would write
    (field.pre_save, then get_db_prep_save: defaults, auto_now, sealed secrets)."""
    from django.db import connection

    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    with cursor.copy(f"COPY {quote(model._meta.db_table)} ({columns}) FROM STDIN") as copy:
        for instance in instances:
            copy.write_row(
                [
                    field.get_db_prep_save(field.pre_save(instance, add=True), connection)
                    for field in fields
                ]
            )


def _saved_fields(model, *, with_pk: bool) -> list:
    """The columns `model` writes into its own table (the primary key only when it is not
    generated: a provider's link to its base row)."""
    return [
        field for field in model._meta.local_concrete_fields if with_pk or not field.primary_key
    ]


def _plain_value(field, n: int) -> str:
    """A credential's plaintext for the n-th row (tests/bulk.py's values; secrets in clear,
    sealed on assignment as the app seals them)."""
    from integrations.fields import SecretField
    from tests.bulk import credential_value

    if isinstance(field, SecretField):
        return f"bulk-secret-{field.name}-{n}"
    return credential_value(field, n)


def seed_tenants(count: int) -> None:
    """`count` tenants with one integration of every provider each, by COPY, in batches.

    Every column comes from the models (so a field added later, with its default, is seeded
    too): the instances are built as the app would build them, then copied in."""
    from django.db import connection, transaction

    from integrations.models import Integration
    from integrations.providers import all_providers, ctype_of
    from tenants.models import Tenant

    providers = all_providers()
    tenant_fields = _saved_fields(Tenant, with_pk=False)
    base_fields = _saved_fields(Integration, with_pk=False)
    for start in range(1, count + 1, BATCH):
        names = [tenant_name(n) for n in range(start, min(start + BATCH, count + 1))]
        display = DISPLAY[(start // BATCH) % len(DISPLAY)]
        with transaction.atomic(), connection.cursor() as wrapper:
            cursor = wrapper.cursor  # psycopg's own, for COPY
            tenants = [Tenant(name=name, display_name=display.format(name=name)) for name in names]
            _copy(cursor, Tenant, tenant_fields, tenants)
            cursor.execute(
                f"SELECT name, id FROM {Tenant._meta.db_table} WHERE name = ANY(%s)",  # noqa: S608
                [names],
            )
            tenant_ids = dict(cursor.fetchall())
            rows = []
            for provider in providers:
                ctype = ctype_of(provider)
                for name in names:
                    n = tenant_ids[name] * len(providers) + providers.index(provider)
                    rows.append(provider(
                        tenant_id=tenant_ids[name], ident=provider.provider_key,
                        polymorphic_ctype_id=ctype.id, updated_by="bulk",
                        **{f.name: _plain_value(f, n) for f in provider.credential_fields()},
                    ))  # fmt: skip
            _copy(cursor, Integration, base_fields, rows)
            cursor.execute(
                f"SELECT tenant_id, ident, id FROM {Integration._meta.db_table} "  # noqa: S608
                "WHERE tenant_id = ANY(%s)",
                [list(tenant_ids.values())],
            )
            ids = {(tenant, ident): pk for tenant, ident, pk in cursor.fetchall()}
            for provider in providers:
                ptr = provider._meta.get_ancestor_link(Integration)
                own = [row for row in rows if type(row) is provider]
                for row in own:
                    setattr(row, ptr.attname, ids[(row.tenant_id, row.ident)])
                _copy(cursor, provider, _saved_fields(provider, with_pk=True), own)


def seed_floor_table() -> int:
    """`bench_floor` holds every live integration: tenant name, id, type, values as JSON
    (secrets as stored: encrypted). Derived from the provider models' tables."""
    from django.db import connection

    from integrations.models import Integration
    from integrations.providers import all_providers
    from tenants.models import Tenant

    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(floor_sql.CREATE_TABLE)
        for provider in all_providers():
            ptr = provider._meta.get_ancestor_link(Integration).column
            cursor.execute(
                f"INSERT INTO {floor_sql.TABLE} (tenant, ident, provider, data) "  # noqa: S608
                f"SELECT t.{quote('name')}, i.{quote('ident')}, %s, to_jsonb(c) - %s "
                f"FROM {quote(provider._meta.db_table)} c "
                f"JOIN {quote(Integration._meta.db_table)} i ON i.id = c.{quote(ptr)} "
                f"JOIN {quote(Tenant._meta.db_table)} t ON t.id = i.tenant_id "
                "WHERE i.deleted_at IS NULL",
                [provider.provider_key, ptr],
            )
        cursor.execute(f"ANALYZE {floor_sql.TABLE}")
        cursor.execute(f"SELECT count(*) FROM {floor_sql.TABLE}")  # noqa: S608
        return cursor.fetchone()[0]


def analyze() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def api_token(scopes: list[str] | None = None) -> str:
    """The plaintext of a new all-tenants token with `scopes` (names of tenants.models.Scope);
    by default every scope: the documented behaviour, secrets returned in clear and each
    reveal audited. With ["read"], secrets are masked and nothing is revealed."""
    from tenants.actors import Actor
    from tenants.models import Channel, Scope
    from tenants.services import api_token_create

    given = list(Scope.values) if scopes is None else scopes
    _, plaintext = api_token_create(
        label="bench" if scopes is None else f"bench {'+'.join(given)}",
        tenant=None,
        scopes=given,
        actor=Actor(name="bench", channel=Channel.COMMAND),
    )
    return plaintext


def api_tokens() -> dict[str, str]:
    """A new token of each scope set bench/ops.py's operations send (Op.scopes), by its name
    there: "every" scope (api_token's default), and "read" alone."""
    return {"every": api_token(), "read": api_token(scopes=["read"])}


def staff_session_cookie() -> str:
    """A `sessionid=...` Cookie header value of a logged-in superuser (the admin and the staff
    pages), made as Django's test client logs in: a session in the database."""
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.test import Client

    user = User.objects.create_superuser(STAFF_USER, "bench@example.com", None)
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    name = settings.SESSION_COOKIE_NAME
    return f"{name}={client.cookies[name].value}"
