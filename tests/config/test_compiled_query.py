"""config.compiled_query: a query compiled once gives what the ORM's own first() gives."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from config.compiled_query import CompiledQuery
from tenants.models import ApiToken, Tenant
from tenants.services import api_token_create
from tests.factories import TenantFactory, actor_named

pytestmark = pytest.mark.django_db

TOKEN_BY_PREFIX = CompiledQuery(
    ApiToken, lambda prefix: ApiToken.objects.select_related("tenant").filter(prefix=prefix), str
)
NAME_OF = CompiledQuery(
    Tenant, lambda pk: Tenant.objects.filter(pk=pk).values_list("name", "deleted_at"), int
)


def test_an_instance_equals_the_orms_with_its_related_row_loaded():
    tenant = TenantFactory(name="acme")
    token, _ = api_token_create(actor=actor_named("tests"), label="t", tenant=tenant)

    found = TOKEN_BY_PREFIX.first(token.prefix)
    expected = ApiToken.objects.select_related("tenant").get(pk=token.pk)

    assert isinstance(found, ApiToken)
    for field in ApiToken._meta.concrete_fields:
        assert getattr(found, field.attname) == getattr(expected, field.attname), field.name
    assert not found._state.adding
    with CaptureQueriesContext(connection) as queries:
        assert found.tenant.name == "acme"  # loaded by the JOIN: no query
    assert not queries.captured_queries


def test_each_run_takes_its_own_values_and_none_is_found_as_none():
    first, second = TenantFactory(name="first"), TenantFactory(name="second")

    assert NAME_OF.row(first.pk) == ("first", None)
    assert NAME_OF.row(second.pk) == ("second", None)
    assert NAME_OF.row(-1) is None
    assert TOKEN_BY_PREFIX.first("ir_nosuchone") is None


def test_an_argument_the_statement_does_not_carry_is_refused():
    unused = CompiledQuery(Tenant, lambda name: Tenant.objects.all(), str)

    with pytest.raises(ValueError, match="each argument"):
        unused.first("acme")


def test_all_returns_every_row_in_the_statements_order():
    TenantFactory(name="b-second")
    TenantFactory(name="a-first")
    named_after = CompiledQuery(
        Tenant, lambda name: Tenant.objects.filter(name__gt=name).order_by("-name"), str
    )

    assert [t.name for t in named_after.all("a")] == ["b-second", "a-first"]
    assert [t.name for t in named_after.all("a-first")] == ["b-second"]
    assert named_after.all("zzz") == []
