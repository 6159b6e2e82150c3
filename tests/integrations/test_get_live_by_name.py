"""selectors.integration_get_live_by_name: one query for the usual case, the answers of
tenant_get_live + integration_get_live in every other."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from integrations import selectors
from integrations.exceptions import IntegrationNotFound
from integrations.models import Integration
from tenants.exceptions import TenantNotFound
from tenants.models import Tenant
from tests.factories import SendGridFactory, TenantFactory, TwilioFactory

pytestmark = pytest.mark.django_db


def test_a_provider_named_id_is_read_with_its_tenant_in_one_query():
    twilio = TwilioFactory(tenant=TenantFactory(name="acme"), ident="twilio")
    TwilioFactory(tenant=TenantFactory(name="other"), ident="twilio")

    with CaptureQueriesContext(connection) as queries:
        found = selectors.integration_get_live_by_name(tenant_name="acme", ident="twilio")
        assert found.tenant.name == "acme"  # loaded by the JOIN

    assert len(queries.captured_queries) == 1
    assert (type(found).__name__, found.pk) == ("TwilioIntegration", twilio.pk)


def test_another_id_is_found_in_the_two_steps():
    sendgrid = SendGridFactory(tenant=TenantFactory(name="acme"), ident="mail-eu")

    found = selectors.integration_get_live_by_name(tenant_name="acme", ident="mail-eu")

    assert (type(found).__name__, found.pk) == ("SendGridIntegration", sendgrid.pk)


@pytest.mark.parametrize("name", ["nobody", "gone", "bad\x00name", "x" * 65])
def test_a_tenant_that_is_not_live_is_a_tenant_not_found(name):
    TwilioFactory(tenant=TenantFactory(name="gone"), ident="twilio")
    Tenant.objects.filter(name="gone").update(deleted_at=timezone.now())

    with pytest.raises(TenantNotFound):
        selectors.integration_get_live_by_name(tenant_name=name, ident="twilio")


@pytest.mark.parametrize("ident", ["twilio", "sendgrid", "nothing", "bad\x00id"])
def test_an_integration_that_is_not_live_is_an_integration_not_found(ident):
    tenant = TenantFactory(name="acme")
    TwilioFactory(tenant=tenant, ident="twilio")
    Integration.objects.filter(ident="twilio").update(deleted_at=timezone.now())

    with pytest.raises(IntegrationNotFound):
        selectors.integration_get_live_by_name(tenant_name="acme", ident=ident)
