"""Tenants are soft-deleted: hidden from `objects`, kept in `all_objects`, restorable."""

import pytest

from integrations.models import Integration
from tenants.models import Tenant
from tests.factories import TenantFactory, TwilioFactory

pytestmark = pytest.mark.django_db


def test_delete_is_soft_and_hides_the_tenant_from_objects():
    tenant = TenantFactory(name="acme")

    tenant.delete()

    assert tenant.is_deleted
    assert not Tenant.objects.filter(name="acme").exists()
    assert Tenant.all_objects.get(name="acme").deleted_at is not None


def test_a_deleted_tenant_keeps_its_integrations():
    tenant = TenantFactory(name="acme")
    integration = TwilioFactory(tenant=tenant)

    tenant.delete()

    assert Integration.objects.filter(pk=integration.pk).exists()
    assert Integration.objects.get(pk=integration.pk).password == integration.password


def test_a_deleted_tenant_can_be_restored():
    tenant = TenantFactory(name="acme")
    tenant.delete()

    Tenant.all_objects.get(name="acme").restore()

    restored = Tenant.objects.get(name="acme")
    assert not restored.is_deleted
    assert restored.deleted_at is None


def test_objects_and_all_objects_differ_only_by_the_deleted():
    live = TenantFactory(name="live")
    gone = TenantFactory(name="gone")
    gone.delete()

    assert list(Tenant.objects.all()) == [live]
    assert set(Tenant.all_objects.all()) == {live, gone}


def test_a_tenant_is_shown_by_its_display_name_or_else_its_name():
    assert str(TenantFactory(name="acme", display_name="Acme Corp")) == "Acme Corp"
    assert str(TenantFactory(name="bare", display_name="")) == "bare"
