"""Benchmark the tenant list's search at scale:
`DATABASE_URL=postgres://... .venv/bin/python tests/benchmarks/bench_search.py`.

Fills the database (once; it must be a throw-away one) with BENCH_TENANTS tenants (10,000)
holding one integration of every provider each, with realistic distinct values, then prints,
per search, the SQL statement count of one page view, its median latency, and the PostgreSQL
plan (EXPLAIN ANALYZE) of the statements that depend on the data: the page's tenants and
their count. Timings are measured here, never asserted in tests; query counts are asserted
in tests (tests/web/test_query_counts.py).
"""

import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DATABASE_URL", f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3")

import django

django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, models, transaction  # noqa: E402
from django.test import RequestFactory  # noqa: E402

from integrations.fields import SecretField  # noqa: E402
from integrations.models import Integration  # noqa: E402
from integrations.providers import all_providers, ctype_of  # noqa: E402
from integrations.search import search_hits, searchable_fields, tenant_search  # noqa: E402
from integrations.web.tenant_pages import TenantListView  # noqa: E402
from tenants.models import Tenant  # noqa: E402

TENANTS = int(os.environ.get("BENCH_TENANTS", "10000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "20"))
BATCH = 1000


def value_for(model_field: models.Field, n: int) -> str:
    if isinstance(model_field, SecretField):
        return model_field.get_prep_value(secrets.token_urlsafe(24))  # stored as ciphertext
    if isinstance(model_field, models.EmailField):
        return f"ops{n}@tenant-{n}.example.com"
    prefix = model_field.name[:2].upper()
    return f"{prefix}{secrets.token_hex(16)}"[: model_field.max_length or 255]


def populate() -> None:
    """TENANTS tenants, one integration of every provider each: bulk inserts (multi-table
    inheritance has no bulk_create for the provider rows, so those are inserted directly)."""
    have = Tenant.objects.count()
    if have >= TENANTS:
        return
    print(f"populating {TENANTS - have} tenants, {len(all_providers())} integrations each…")
    for start in range(have, TENANTS, BATCH):
        with transaction.atomic():
            tenants = Tenant.objects.bulk_create(
                Tenant(name=f"tenant-{n:05}", display_name=f"Customer {n} Ltd")
                for n in range(start, min(start + BATCH, TENANTS))
            )
            if connection.vendor != "postgresql":  # no RETURNING of ids from bulk_create
                tenants = list(Tenant.objects.filter(name__in=[t.name for t in tenants]))
            for provider in all_providers():
                ctype = ctype_of(provider)
                base_rows = Integration.objects.non_polymorphic().bulk_create(
                    Integration(
                        tenant=tenant,
                        ident=provider.provider_key,
                        polymorphic_ctype=ctype,
                        updated_by="bench",
                    )
                    for tenant in tenants
                )
                if connection.vendor != "postgresql":
                    base_rows = list(
                        Integration.objects.non_polymorphic().filter(
                            tenant__in=tenants, polymorphic_ctype=ctype
                        )
                    )
                fields = provider.credential_fields()
                ptr = provider._meta.get_ancestor_link(Integration).column
                columns = ", ".join([ptr, *(f.column for f in fields)])
                marks = ", ".join(["%s"] * (len(fields) + 1))
                with connection.cursor() as cursor:
                    cursor.executemany(
                        f"INSERT INTO {provider._meta.db_table} ({columns}) VALUES ({marks})",  # noqa: S608
                        [
                            [row.pk, *(value_for(f, row.tenant_id) for f in fields)]
                            for row in base_rows
                        ],
                    )


def explain(label: str, queryset) -> None:
    if connection.vendor != "postgresql":
        return
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
        plan = "\n".join(f"    {line}" for (line,) in cursor.fetchall())
    print(f"  plan of {label}:\n{plan}")


def page_view(user: User, params: dict):
    """The tenant list, rendered, as `user` (the view and its template, without middleware:
    sessions and logins are not what is measured)."""
    request = RequestFactory(HTTP_HOST="127.0.0.1").get("/", params)
    request.user = user
    response = TenantListView.as_view()(request)
    response.render()
    return response


def measure(user: User, label: str, params: dict) -> None:
    page_view(user, params)  # warm up
    statements: list[str] = []
    with connection.execute_wrapper(
        lambda execute, sql, *args: statements.append(sql) or execute(sql, *args)
    ):
        response = page_view(user, params)
    assert response.status_code == 200, response.status_code
    samples = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        page_view(user, params)
        samples.append((time.perf_counter() - start) * 1000)
    page = response.context_data["tenants"]
    print(
        f"\n{label:<44} {response.context_data['paginator'].count:6d} found   median "
        f"{statistics.median(samples):7.2f} ms per page view   {len(statements)} SQL statements"
    )
    query = params.get("q", "")
    tenants = tenant_search(query=query)
    explain("the page of tenants", tenants[:25])
    explain("the count", tenants.values("pk").order_by())
    if query and page:
        start = time.perf_counter()
        search_hits(tenant_ids=[t.pk for t in page], query=query)
        print(f"  matching integrations of the page: {(time.perf_counter() - start) * 1000:.2f} ms")


def main() -> None:
    call_command("migrate", verbosity=0)
    populate()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")  # fresh statistics, as autovacuum would have by now
    user = User.objects.filter(username="bench").first() or User.objects.create_superuser(
        "bench", "bench@example.com", secrets.token_urlsafe(16)
    )
    print(
        f"{connection.vendor}: {Tenant.objects.count()} tenants, "
        f"{Integration.objects.count()} integrations, {ROUNDS} rounds per search"
    )
    measure(user, "no search (first page)", {})
    measure(user, "tenant name fragment 'tenant-0421'", {"q": "tenant-0421"})
    for provider in all_providers():
        for searchable in searchable_fields(provider):
            value = provider.objects.values_list(searchable.name, flat=True)[TENANTS // 3]
            label = f"{provider.label} {searchable.verbose_name}"
            measure(user, f"a whole {label} '{value}'", {"q": value})
            measure(user, f"a fragment of a {label}", {"q": value[5:14]})
    first = all_providers()[0]
    measure(user, f"provider label '{first.label}' (every tenant)", {"q": first.label})
    measure(user, "nothing matches 'zzzz-no-such-thing'", {"q": "zzzz-no-such-thing"})
    measure(user, "two characters 'q9'", {"q": "q9"})


if __name__ == "__main__":
    main()
