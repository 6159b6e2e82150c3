"""POST is an upsert: create → 201, replace → 200, the body is the stored record."""

import pytest

from integrations.models import Integration
from integrations.providers import SalesforceIntegration, TwilioIntegration
from integrations.services import integration_delete
from tests.api.support import (
    BODIES,
    SALESFORCE,
    TWILIO,
    echoed,
    field_name,
    fields_of,
    post_json,
    url,
)
from tests.factories import actor_named, token_actor_name

pytestmark = pytest.mark.django_db


def stored(tenant, ident):
    return Integration.objects.get(tenant=tenant, ident=ident)


@pytest.mark.parametrize("provider", sorted(BODIES))
def test_it_creates_an_integration_of_each_provider_with_201(tenant_client, tenant, provider):
    body = BODIES[provider]

    response = post_json(tenant_client, url(provider), {"type": provider, **body})

    assert response.status_code == 201, response.content
    assert fields_of(response.json()) == echoed(provider, provider, body)
    integration = stored(tenant, provider)
    assert integration.provider_key == provider
    assert integration.provider_key == provider
    for key, value in body.items():
        assert getattr(integration, field_name(key)) == value


def test_it_replaces_an_existing_integration_with_200_and_keeps_one_row(tenant_client, tenant):
    post_json(tenant_client, url("twilio"), TWILIO)
    first = stored(tenant, "twilio")
    replacement = {"account": "AC999", "password": "a-new-auth-token"}

    response = post_json(tenant_client, url("twilio"), replacement)

    assert response.status_code == 200, response.content
    assert fields_of(response.json()) == {"id": "twilio", "type": "twilio", **replacement}
    assert Integration.all_objects.filter(tenant=tenant).count() == 1
    again = stored(tenant, "twilio")
    assert again.pk == first.pk
    assert (again.account, again.password) == ("AC999", "a-new-auth-token")
    assert again.created_at == first.created_at
    assert again.updated_at > first.updated_at


def test_a_replace_is_a_full_replacement_so_every_required_field_must_be_sent(
    tenant_client, tenant
):
    post_json(tenant_client, url("salesforce"), SALESFORCE)

    response = post_json(tenant_client, url("salesforce"), {"password": "only-this-one"})

    assert response.status_code == 400
    assert set(response.json()["fields"]) == {
        "consumer-key",
        "consumer-secret",
        "username",
        "secret-token",
    }
    assert stored(tenant, "salesforce").password == SALESFORCE["password"]


def test_it_records_which_token_made_the_change(tenant_client, tenant):
    post_json(tenant_client, url("twilio"), TWILIO)

    assert stored(tenant, "twilio").updated_by == token_actor_name("acme ops")


@pytest.mark.parametrize("short", [False, True], ids=["integrations-route", "short-route"])
@pytest.mark.parametrize("slash", ["", "/"], ids=["no-slash", "trailing-slash"])
def test_both_routes_work_with_and_without_a_trailing_slash(tenant_client, tenant, short, slash):
    path = url("twilio", short=short) + slash

    created = post_json(tenant_client, path, TWILIO)
    replaced = post_json(tenant_client, path, TWILIO)

    assert (created.status_code, replaced.status_code) == (201, 200)
    assert created.json()["id"] == "twilio"
    assert Integration.objects.filter(tenant=tenant, ident="twilio").count() == 1


def test_the_two_routes_address_the_same_record(tenant_client, tenant):
    assert post_json(tenant_client, url("twilio"), TWILIO).status_code == 201

    response = post_json(tenant_client, url("twilio", short=True), TWILIO)

    assert response.status_code == 200
    assert Integration.objects.filter(tenant=tenant).count() == 1


def test_the_id_defaults_to_the_path(tenant_client, tenant):
    response = post_json(tenant_client, url("twilio"), {"type": "twilio", **TWILIO})

    assert response.status_code == 201
    assert response.json()["id"] == "twilio"
    assert stored(tenant, "twilio").ident == "twilio"


def test_the_type_defaults_to_the_id_when_the_id_names_a_provider(tenant_client, tenant):
    response = post_json(tenant_client, url("twilio"), {"id": "twilio", **TWILIO})

    assert response.status_code == 201
    assert response.json()["type"] == "twilio"
    assert isinstance(stored(tenant, "twilio"), TwilioIntegration)


def test_an_id_naming_no_provider_without_a_type_is_an_unknown_type(tenant_client, tenant):
    response = post_json(tenant_client, url("phones"), TWILIO)

    assert response.status_code == 422
    assert response.json()["error"].startswith("Unknown integration type 'phones' (taken from")
    assert not Integration.all_objects.exists()


def test_an_id_that_names_a_provider_must_be_of_that_provider(tenant_client, tenant):
    response = post_json(tenant_client, url("salesforce"), {"type": "twilio", **TWILIO})

    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["type"]
    assert "salesforce" in response.json()["fields"]["type"][0]
    assert not Integration.all_objects.exists()


def test_a_body_id_that_differs_from_the_path_is_rejected(tenant_client, tenant):
    response = post_json(tenant_client, url("twilio"), {"id": "twilio-eu", **TWILIO})

    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["id"]
    assert not Integration.all_objects.exists()


def test_a_tenant_may_hold_several_integrations_of_one_type(tenant_client, tenant):
    emea = {**SALESFORCE, "username": "emea@userevents.com"}
    us = {**SALESFORCE, "username": "us@userevents.com"}

    responses = [
        post_json(tenant_client, url("salesforce-emea"), {"type": "salesforce", **emea}),
        post_json(tenant_client, url("salesforce-us"), {"type": "salesforce", **us}),
        post_json(tenant_client, url("salesforce"), SALESFORCE),
    ]

    assert [r.status_code for r in responses] == [201, 201, 201]
    assert fields_of(responses[0].json()) == echoed("salesforce", "salesforce-emea", emea)
    rows = SalesforceIntegration.objects.filter(tenant=tenant).order_by("ident")
    assert [(r.ident, r.username) for r in rows] == [
        ("salesforce", SALESFORCE["username"]),
        ("salesforce-emea", "emea@userevents.com"),
        ("salesforce-us", "us@userevents.com"),
    ]


def test_the_type_of_an_existing_integration_cannot_change(tenant_client, tenant):
    post_json(tenant_client, url("crm"), {"type": "salesforce", **SALESFORCE})

    response = post_json(tenant_client, url("crm"), {"type": "twilio", **TWILIO})

    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["type"]
    assert Integration.all_objects.filter(tenant=tenant).count() == 1
    assert isinstance(stored(tenant, "crm"), SalesforceIntegration)


def test_the_same_id_in_two_tenants_is_two_records(global_client, tenant, other_tenant):
    first = post_json(global_client, url("twilio", tenant="acme"), TWILIO)
    second = post_json(
        global_client, url("twilio", tenant="globex"), {**TWILIO, "account": "AC-globex"}
    )

    assert (first.status_code, second.status_code) == (201, 201)
    assert stored(tenant, "twilio").account == TWILIO["account"]
    assert stored(other_tenant, "twilio").account == "AC-globex"


def test_an_unknown_type_is_422_and_stores_nothing(tenant_client, tenant):
    response = post_json(tenant_client, url("fax"), {"type": "fax", **TWILIO})

    assert response.status_code == 422
    assert "fax" in response.json()["error"]
    assert "twilio" in response.json()["error"]  # it names the known types
    assert not Integration.all_objects.exists()


def test_a_re_post_after_a_soft_delete_creates_a_new_record(tenant_client, tenant):
    post_json(tenant_client, url("twilio"), TWILIO)
    old = stored(tenant, "twilio")
    integration_delete(integration=old, actor=actor_named("test"))

    response = post_json(tenant_client, url("twilio"), {**TWILIO, "account": "AC-new"})

    assert response.status_code == 201
    assert Integration.all_objects.filter(tenant=tenant, ident="twilio").count() == 2
    fresh = stored(tenant, "twilio")
    assert fresh.pk != old.pk
    assert fresh.account == "AC-new"
    assert Integration.all_objects.get(pk=old.pk).is_deleted
