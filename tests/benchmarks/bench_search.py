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

from django.contrib.admin import site  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, models  # noqa: E402
from django.test import RequestFactory  # noqa: E402

from integrations.fields import SecretField  # noqa: E402
from integrations.models import Integration  # noqa: E402
from integrations.providers import all_providers  # noqa: E402
from integrations.search import search_hits, searchable_fields, tenant_search  # noqa: E402
from integrations.web.tenant_pages import TenantListView  # noqa: E402
from tenants.models import Tenant  # noqa: E402
from tests.bulk import bulk_tenants  # noqa: E402

TENANTS = int(os.environ.get("BENCH_TENANTS", "10000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "20"))


def realistic_value(model_field: models.Field, n: int) -> str:
    """Distinct values of realistic length and alphabet (an Account SID is 34 characters)."""
    if isinstance(model_field, SecretField):
        return model_field.get_prep_value(secrets.token_urlsafe(24))  # stored as ciphertext
    if isinstance(model_field, models.EmailField):
        return f"ops{n}@tenant-{n}.example.com"
    prefix = model_field.name[:2].upper()
    return f"{prefix}{secrets.token_hex(16)}"[: model_field.max_length or 255]


def populate() -> None:
    """TENANTS tenants holding one integration of every provider each (tests/bulk.py)."""
    have = Tenant.objects.count()
    if have < TENANTS:
        print(f"populating {TENANTS - have} tenants, {len(all_providers())} integrations each…")
        bulk_tenants(
            [f"tenant-{n:05}" for n in range(have, TENANTS)],
            integrations_each=len(all_providers()),
            display="Customer {name} Ltd",
            value=realistic_value,
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


def admin_search(user: User, query: str):
    """The admin's integration list searched for `query` (its view and template)."""
    request = RequestFactory(HTTP_HOST="127.0.0.1").get(
        "/admin/integrations/integration/", {"q": query}
    )
    request.user = user
    response = site._registry[Integration].changelist_view(request)
    response.render()
    return response


def measure_admin(user: User, label: str, query: str) -> None:
    admin_search(user, query)  # warm up
    statements: list[str] = []
    with connection.execute_wrapper(
        lambda execute, sql, *args: statements.append(sql) or execute(sql, *args)
    ):
        response = admin_search(user, query)
    samples = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        admin_search(user, query)
        samples.append((time.perf_counter() - start) * 1000)
    print(
        f"\nadmin: {label:<37} {response.context_data['cl'].result_count:6d} found   median "
        f"{statistics.median(samples):7.2f} ms per page view   {len(statements)} SQL statements"
    )
    model_admin = site._registry[Integration]
    request = RequestFactory().get("/")
    request.user = user
    searched, _ = model_admin.get_search_results(
        request, model_admin.get_queryset(request).filter(deleted_at__isnull=True), query
    )
    explain("the admin's page of integrations", searched.order_by("-pk")[:50])


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
    some = all_providers()[-1]
    field = searchable_fields(some)[0]
    value = some.objects.values_list(field.name, flat=True)[TENANTS // 2]
    measure_admin(user, f"a {some.label} {field.verbose_name} fragment", value[5:14])
    measure_admin(user, "tenant name fragment 'tenant-0421'", "tenant-0421")


if __name__ == "__main__":
    main()
