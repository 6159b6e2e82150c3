"""tenants.admin_helpers.QuickActionCheckbox writes exactly Django's own action checkbox."""

import pytest
from django.contrib import admin
from django.contrib.admin.sites import site

from integrations.models import Integration
from tenants.admin_helpers import QuickActionCheckbox
from tenants.models import ApiToken, Tenant
from tests.factories import TenantFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("model", [Tenant, ApiToken, Integration], ids=lambda m: m.__name__)
def test_the_list_admins_use_it(model):
    assert isinstance(site._registry[model], QuickActionCheckbox)


def test_its_html_is_djangos():
    tenant = TenantFactory(name="acme", display_name="A <b>\"&' co")
    tenant_admin = site._registry[Tenant]

    ours = tenant_admin.action_checkbox(tenant)
    djangos = admin.ModelAdmin.action_checkbox(tenant_admin, tenant)

    assert str(ours) == str(djangos)
    assert f'value="{tenant.pk}"' in ours and "<b>" not in ours


def test_the_admin_list_shows_one_checkbox_per_row(admin_client):
    for number in range(3):
        TenantFactory(name=f"tenant-{number}")

    page = admin_client.get("/admin/tenants/tenant/").content.decode()

    assert page.count('class="action-select"') == 3
