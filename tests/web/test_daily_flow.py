"""A support person's daily flow: a save lands on the saved card, the add form pre-fills the id
with the provider's key when that id is free, the provider choice says what the tenant has."""

import re

import pytest

from integrations.providers import all_providers
from integrations.services import integration_delete
from tests.factories import PROVIDER_FACTORIES, TenantFactory, TwilioFactory, actor_named

FACTORY_OF = {factory._meta.model: factory for factory in PROVIDER_FACTORIES}


def ident_input(html: str) -> str:
    [tag] = re.findall(r"<input[^>]*name=\"ident\"[^>]*>", html)
    return tag


@pytest.mark.django_db
def test_adding_and_editing_land_on_the_saved_card(support, tenant):
    added = support.post(
        "/tenants/acme/add-integration/twilio/",
        {"ident": "twilio-eu", "account": "AC1", "password": "tw-1"},
    )
    edited = support.post(
        "/tenants/acme/integrations/twilio-eu/edit/", {"account": "AC2", "password": ""}
    )

    assert (added.status_code, added["Location"]) == (302, "/tenants/acme/#integration-twilio-eu")
    assert (edited.status_code, edited["Location"]) == (302, "/tenants/acme/#integration-twilio-eu")
    page = support.get("/tenants/acme/").content.decode()
    assert 'id="integration-twilio-eu"' in page


@pytest.mark.django_db
@pytest.mark.parametrize("provider", all_providers(), ids=lambda p: p.provider_key)
def test_the_add_form_prefills_the_id_with_the_provider_key_while_it_is_free(
    support, tenant, provider
):
    url = f"/tenants/acme/add-integration/{provider.provider_key}/"

    free = ident_input(support.get(url).content.decode())
    held = FACTORY_OF[provider](tenant=tenant)
    taken = ident_input(support.get(url).content.decode())
    integration_delete(integration=held, actor=actor_named())
    free_again = ident_input(support.get(url).content.decode())

    assert f'value="{provider.provider_key}"' in free
    assert "value=" not in taken
    assert f'value="{provider.provider_key}"' in free_again


@pytest.mark.django_db
def test_a_prefilled_id_is_only_a_suggestion_the_posted_id_wins(support, tenant):
    response = support.post(
        "/tenants/acme/add-integration/twilio/",
        {"ident": "twilio-us", "account": "AC1", "password": "tw-1"},
    )

    assert response.status_code == 302
    assert list(tenant.integrations.values_list("ident", flat=True)) == ["twilio-us"]


@pytest.mark.django_db
def test_the_provider_choice_shows_which_providers_the_tenant_already_has(support, tenant):
    TwilioFactory(tenant=tenant, ident="twilio")
    TwilioFactory(tenant=tenant, ident="twilio-eu")
    integration_delete(
        integration=TwilioFactory(tenant=tenant, ident="twilio-old"), actor=actor_named()
    )
    TwilioFactory(tenant=TenantFactory(name="globex"), ident="twilio-globex")

    response = support.get("/tenants/acme/add-integration/")

    assert response.status_code == 200
    held = {c["provider"].provider_key: c["held"] for c in response.context["choices"]}
    assert held == {
        p.provider_key: (["twilio", "twilio-eu"] if p.provider_key == "twilio" else [])
        for p in all_providers()
    }
    html = response.content.decode()
    assert "Has 2: <code>twilio</code>, <code>twilio-eu</code>" in html
    assert html.count("Not set up yet") == len(all_providers()) - 1
    assert "twilio-old" not in html and "twilio-globex" not in html
