"""A write racing its tenant's soft delete is never acknowledged into the deleted tenant.

The API request has read the live tenant; the tenant is soft-deleted and committed before the
write runs (the interleaving is forced by wrapping the service the view calls). The write
must then answer the deleted tenant's 422 and store nothing. On PostgreSQL the write also
holds the tenant row FOR SHARE, so a delete that comes later waits for the write instead.
"""

import json

import pytest
from django.utils import timezone

from integrations import services
from integrations.models import Integration
from tenants.models import Tenant
from tests.factories import TwilioFactory

pytestmark = pytest.mark.django_db

PATH = "/1.0/tenants/acme/integrations/twilio"
BODY = json.dumps({"account": "AC1", "password": "pw-1234"})
GONE = {"error": "Tenant 'acme' does not exist or has been deleted."}


def soft_delete_first(monkeypatch, name: str, tenant) -> None:
    """Make the service `name` find its tenant soft-deleted by someone else first."""
    service = getattr(services, name)

    def tenant_deleted_meanwhile(*args, **kwargs):
        Tenant.all_objects.filter(pk=tenant.pk).update(deleted_at=timezone.now())
        return service(*args, **kwargs)

    monkeypatch.setattr(services, name, tenant_deleted_meanwhile)


def test_a_create_into_a_tenant_deleted_meanwhile_is_422_and_stores_nothing(
    tenant_client, tenant, monkeypatch
):
    soft_delete_first(monkeypatch, "integration_upsert", tenant)

    response = tenant_client.post(PATH, BODY, content_type="application/json")

    assert (response.status_code, response.json()) == (422, GONE)
    assert not Integration.all_objects.exists()


def test_a_patch_in_a_tenant_deleted_meanwhile_is_422_and_changes_nothing(
    tenant_client, tenant, monkeypatch
):
    TwilioFactory(tenant=tenant, account="AC-before")
    soft_delete_first(monkeypatch, "integration_update", tenant)

    response = tenant_client.patch(
        PATH, json.dumps({"account": "AC-after"}), content_type="application/json"
    )

    assert (response.status_code, response.json()) == (422, GONE)
    assert Integration.all_objects.get().account == "AC-before"


def test_a_delete_in_a_tenant_deleted_meanwhile_is_422_and_deletes_nothing(
    tenant_client, tenant, monkeypatch
):
    TwilioFactory(tenant=tenant)
    soft_delete_first(monkeypatch, "integration_delete", tenant)

    response = tenant_client.delete(PATH)

    assert (response.status_code, response.json()) == (422, GONE)
    assert Integration.all_objects.get().deleted_at is None
