"""No stored secret value appears in any rendered page, staff pages or admin."""

import pytest

from integrations.providers import all_providers
from tests.factories import PROVIDER_FACTORIES
from tests.web.conftest import logged_in


def _every_secret(integrations) -> list[str]:
    return [
        getattr(integration, name)
        for integration in integrations
        for name in integration.secret_field_names()
    ]


@pytest.fixture
def one_of_each(tenant):
    return [factory(tenant=tenant) for factory in PROVIDER_FACTORIES]


def _pages(tenant, integrations) -> list[str]:
    staff = ["/", "/tenants/acme/", "/tenants/acme/integrations/add/"]
    for integration in integrations:
        staff += [
            f"/tenants/acme/integrations/{integration.ident}/edit/",
            f"/tenants/acme/integrations/{integration.ident}/delete/",
        ]
    admin = [
        "/admin/",
        "/admin/tenants/tenant/",
        f"/admin/tenants/tenant/{tenant.pk}/change/",
        f"/admin/tenants/tenant/{tenant.pk}/history/",
        "/admin/integrations/integration/",
    ]
    for integration in integrations:
        opts = type(integration)._meta
        base = f"/admin/{opts.app_label}/{opts.model_name}/{integration.pk}"
        admin += [f"{base}/change/", f"{base}/history/"]
    return staff + admin


@pytest.mark.django_db
def test_no_page_contains_a_stored_secret(admin_user, tenant, one_of_each):
    client = logged_in(admin_user)
    secrets = _every_secret(one_of_each)
    assert len(secrets) == sum(len(p.secret_field_names()) for p in all_providers())

    for url in _pages(tenant, one_of_each):
        response = client.get(url, follow=True)
        assert response.status_code == 200, url
        body = response.content.decode()
        leaked = [secret for secret in secrets if secret in body]
        assert leaked == [], f"{url} shows {len(leaked)} secret(s)"


@pytest.mark.django_db
def test_no_page_contains_a_secret_after_saving_through_the_admin_either(
    admin_user, tenant, one_of_each
):
    client = logged_in(admin_user)
    twilio = next(i for i in one_of_each if i.provider == "twilio")
    stored_token = twilio.password
    client.post(
        f"/admin/integrations/twiliointegration/{twilio.pk}/change/",
        {"tenant": tenant.pk, "ident": "twilio", "account": "AC-CHANGED", "password": ""},
    )
    twilio.refresh_from_db()
    assert (twilio.account, twilio.password) == ("AC-CHANGED", stored_token)

    history = client.get(f"/admin/integrations/twilioIntegration/{twilio.pk}/history/".lower())

    assert twilio.password not in history.content.decode()
    assert "Changed Account SID." in history.content.decode()  # the blank secret is not "changed"
