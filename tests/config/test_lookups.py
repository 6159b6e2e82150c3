"""config.lookups.InSubquery: the same rows as `pk__in=subquery`, on PostgreSQL as
`= ANY(ARRAY(subquery))` (an index condition under an OR), elsewhere as `IN (subquery)`."""

import pytest
from django.db import connection
from django.db.models import F, Q

from config.lookups import InSubquery
from tenants.models import Tenant
from tests.factories import TenantFactory


@pytest.fixture
def tenants():
    return [TenantFactory(name=name) for name in ("alpha", "bravo", "charlie", "delta")]


def _names(queryset) -> list[str]:
    return list(queryset.order_by("name").values_list("name", flat=True))


@pytest.mark.django_db
def test_it_finds_what_in_finds_alone_under_an_or_and_with_a_union(tenants):
    # Branches of a UNION take no ORDER BY (Tenant has a default one).
    some = Tenant.objects.filter(name__in=["bravo", "delta"]).order_by().values("pk")
    others = Tenant.objects.filter(name="charlie").order_by().values("pk")
    union_all = some.union(others, all=True)

    alone = Tenant.objects.filter(InSubquery(F("pk"), some))
    with_or = Tenant.objects.filter(Q(name="alpha") | InSubquery(F("pk"), some))
    with_union = Tenant.objects.filter(InSubquery(F("pk"), union_all))
    nothing = Tenant.objects.filter(InSubquery(F("pk"), Tenant.objects.none().values("pk")))

    assert _names(alone) == _names(Tenant.objects.filter(pk__in=some)) == ["bravo", "delta"]
    assert _names(with_or) == ["alpha", "bravo", "delta"]
    assert _names(with_union) == ["bravo", "charlie", "delta"]
    assert _names(nothing) == []
    assert alone.count() == 2 and with_or.count() == 3


@pytest.mark.django_db
def test_a_negated_one_keeps_the_rows_the_subquery_does_not_name(tenants):
    some = Tenant.objects.filter(name__in=["bravo", "delta"]).values("pk")

    assert _names(Tenant.objects.exclude(InSubquery(F("pk"), some))) == ["alpha", "charlie"]


@pytest.mark.django_db
def test_the_sql_is_an_array_on_postgresql_and_in_elsewhere(tenants):
    sql = str(Tenant.objects.filter(InSubquery(F("pk"), Tenant.objects.values("pk"))).query)

    if connection.vendor == "postgresql":
        assert '"tenants_tenant"."id" = ANY(ARRAY(SELECT' in sql
        assert " IN (SELECT" not in sql
    else:
        assert '"tenants_tenant"."id" IN (SELECT' in sql


@pytest.mark.postgres
@pytest.mark.django_db
def test_postgresql_runs_it_once_before_the_outer_query(tenants):
    some = Tenant.objects.filter(name="bravo").values("pk")
    queryset = Tenant.objects.filter(Q(name="alpha") | InSubquery(F("pk"), some))

    plan = queryset.explain()

    # An InitPlan: computed once, its result a parameter of the outer scan ($0 / $1 …),
    # not a SubPlan tested against each row.
    assert "InitPlan" in plan
    assert "SubPlan" not in plan


def test_a_list_of_values_is_refused():
    with pytest.raises(TypeError, match="QuerySet of one column"):
        InSubquery(F("pk"), [1, 2])
