"""422 for a tenant that does not exist or was deleted; a deleted tenant keeps its records."""

import pytest

from integrations.models import Integration
from tenants.models import Tenant
from tenants.services import tenant_delete, tenant_restore
from tests.api.support import TWILIO, post_json, url
from tests.factories import TwilioFactory, actor_named

pytestmark = pytest.mark.django_db


def test_a_tenant_that_does_not_exist_is_422(global_client):
    response = post_json(global_client, url("twilio", tenant="nobody"), TWILIO)

    assert response.status_code == 422
    assert response.json() == {"error": "Tenant 'nobody' does not exist or has been deleted."}
    assert not Integration.all_objects.exists()


def test_a_deleted_tenant_is_422_and_keeps_its_records(global_client, tenant):
    kept = TwilioFactory(tenant=tenant, account="AC-kept")
    tenant_delete(tenant=tenant, actor=actor_named())

    response = post_json(global_client, url("twilio"), {**TWILIO, "account": "AC-new"})

    assert response.status_code == 422
    assert set(response.json()) == {"error"}
    assert "acme" in response.json()["error"]
    assert Tenant.all_objects.filter(pk=tenant.pk).exists()
    assert list(Integration.all_objects.filter(tenant=tenant)) == [kept]
    assert Integration.all_objects.get(pk=kept.pk).account == "AC-kept"


def test_a_deleted_tenant_is_422_for_its_own_token_too(tenant_client, tenant):
    tenant_delete(tenant=tenant, actor=actor_named())

    response = post_json(tenant_client, url("twilio"), TWILIO)

    assert response.status_code == 422
    assert not Integration.all_objects.exists()


def test_a_restored_tenant_accepts_writes_again(global_client, tenant):
    TwilioFactory(tenant=tenant)
    tenant_delete(tenant=tenant, actor=actor_named())
    tenant_restore(tenant=tenant, actor=actor_named())

    response = post_json(global_client, url("twilio"), TWILIO)

    assert response.status_code == 200
    assert Integration.objects.get(tenant=tenant).account == TWILIO["account"]


def test_the_tenant_is_checked_before_the_body(global_client):
    response = post_json(global_client, url("twilio", tenant="nobody"), "{not json")

    assert response.status_code == 422
