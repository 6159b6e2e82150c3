"""Tenants are soft-deleted: hidden from `objects`, kept in `all_objects`, restorable."""

import pytest

from integrations.models import Integration
from tenants.models import Tenant
from tenants.services import tenant_delete, tenant_restore
from tests.factories import TenantFactory, TwilioFactory, actor_named

pytestmark = pytest.mark.django_db


def test_delete_is_soft_and_hides_the_tenant_from_objects():
    tenant = TenantFactory(name="acme")

    tenant_delete(tenant=tenant, actor=actor_named())

    assert tenant.is_deleted
    assert not Tenant.objects.filter(name="acme").exists()
    assert Tenant.all_objects.get(name="acme").deleted_at is not None


def test_a_deleted_tenant_keeps_its_integrations():
    tenant = TenantFactory(name="acme")
    integration = TwilioFactory(tenant=tenant)

    tenant_delete(tenant=tenant, actor=actor_named())

    assert Integration.objects.filter(pk=integration.pk).exists()
    assert Integration.objects.get(pk=integration.pk).password == integration.password


def test_a_deleted_tenant_can_be_restored():
    tenant = TenantFactory(name="acme")
    tenant_delete(tenant=tenant, actor=actor_named())

    tenant_restore(tenant=Tenant.all_objects.get(name="acme"), actor=actor_named())

    restored = Tenant.objects.get(name="acme")
    assert not restored.is_deleted
    assert restored.deleted_at is None


def test_objects_and_all_objects_differ_only_by_the_deleted():
    live = TenantFactory(name="live")
    gone = TenantFactory(name="gone")
    tenant_delete(tenant=gone, actor=actor_named())

    assert list(Tenant.objects.all()) == [live]
    assert set(Tenant.all_objects.all()) == {live, gone}


def test_a_tenant_is_shown_by_its_name_first_then_its_display_name():
    assert str(TenantFactory(name="acme", display_name="Acme Corp")) == "acme (Acme Corp)"
    assert str(TenantFactory(name="bare", display_name="")) == "bare"
