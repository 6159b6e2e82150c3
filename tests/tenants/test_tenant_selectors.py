"""tenant_get_live: live tenants by name; a name that cannot be stored is never looked up."""

import pytest
from django.utils import timezone

from tenants.exceptions import TenantNotFound
from tenants.models import Tenant
from tenants.selectors import could_be_stored, tenant_get_live
from tests.factories import TenantFactory

pytestmark = pytest.mark.django_db


def test_a_live_tenant_is_found_by_its_name():
    acme = TenantFactory(name="acme")
    TenantFactory(name="acme-eu")

    assert tenant_get_live(name="acme").pk == acme.pk


def test_a_deleted_tenant_is_not_found():
    TenantFactory(name="acme", deleted_at=timezone.now())

    with pytest.raises(TenantNotFound, match="'acme' does not exist or has been deleted"):
        tenant_get_live(name="acme")


def test_an_older_name_with_capitals_or_underscores_stays_reachable():
    old = Tenant.objects.create(name="Old_Name")

    assert tenant_get_live(name="Old_Name").pk == old.pk


@pytest.mark.parametrize(
    "name",
    ["", "acme!", "acme\x00", "acme\n", "a b", "é", "a" * 65, "acme/eu"],
    ids=["empty", "bang", "nul", "newline", "space", "accent", "too-long", "slash"],
)
def test_a_name_that_cannot_be_stored_is_refused_without_a_query(name, django_assert_num_queries):
    TenantFactory(name="acme")

    with django_assert_num_queries(0), pytest.raises(TenantNotFound):
        tenant_get_live(name=name)


def test_could_be_stored_follows_the_fields_validators():
    assert could_be_stored(Tenant, "name", "acme-eu") is True
    assert could_be_stored(Tenant, "name", "Acme EU") is False
