"""The tenant list's one search box and provider filter: found by name, display name,
integration id, provider, or any non-secret credential value, with the matching integration in
the row; never by a secret. Generic over providers: every searchable field of every provider
is tried, derived from the models as the search itself is."""

import re

import pytest
from django.db import models

from integrations.admin.integration_admin import IntegrationParentAdmin
from integrations.providers import all_providers
from integrations.search import integration_search_paths, searchable_fields
from integrations.services import integration_delete
from tenants.services import tenant_delete
from tests.factories import PROVIDER_FACTORIES, TenantFactory, TwilioFactory, actor_named

FACTORY_OF = {factory._meta.model: factory for factory in PROVIDER_FACTORIES}


def found(response) -> list[str]:
    assert response.status_code == 200
    return [tenant.name for tenant in response.context["tenants"]]


def distinctive(model_field: models.Field, n: int) -> tuple[str, str]:
    """A value for the field that nothing else holds, and a piece of it to search for."""
    needle = f"zq{n}x"
    if isinstance(model_field, models.EmailField):
        return f"{needle}@example.com", needle
    return f"VAL-{needle.upper()}-{n}", needle


def every_searchable_field():
    return [
        pytest.param(provider, model_field, id=f"{provider.provider_key}.{model_field.name}")
        for provider in all_providers()
        for model_field in searchable_fields(provider)
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("provider,model_field", every_searchable_field())
def test_the_search_finds_a_tenant_by_any_non_secret_value_and_shows_the_integration(
    support, provider, model_field
):
    TenantFactory(name="other")
    FACTORY_OF[provider](tenant=TenantFactory(name="other"), ident="decoy")
    tenant = TenantFactory(name="acme")
    value, needle = distinctive(model_field, 7)
    FACTORY_OF[provider](tenant=tenant, ident="main", **{model_field.name: value})

    response = support.get("/", {"q": needle})

    assert found(response) == ["acme"]
    [hit] = response.context["tenants"][0].hits
    assert (hit.ident, hit.provider) == ("main", provider)
    assert [(v.label, v.value) for v in hit.values] == [(str(model_field.verbose_name), value)]
    html = response.content.decode()
    assert 'href="/tenants/acme/#integration-main"' in html
    assert str(model_field.verbose_name) in html
    assert f"<mark>{needle.upper() if value.startswith('VAL') else needle}</mark>" in html


@pytest.mark.django_db
def test_the_search_finds_tenants_by_name_display_name_and_integration_id(support):
    TenantFactory(name="acme", display_name="Acme Corp")
    TenantFactory(name="globex", display_name="Globex Industries")
    TwilioFactory(tenant=TenantFactory(name="initech", display_name=""), ident="twilio-emea")

    assert found(support.get("/", {"q": "ACM"})) == ["acme"]
    assert found(support.get("/", {"q": "industries"})) == ["globex"]
    assert found(support.get("/", {"q": "emea"})) == ["initech"]
    assert found(support.get("/", {"q": "  emea  "})) == ["initech"]
    assert found(support.get("/", {"q": "nothing-like-it"})) == []


@pytest.mark.django_db
@pytest.mark.parametrize("how", ["provider_key", "label"])
def test_the_search_finds_tenants_by_provider_key_or_label(support, how):
    for provider in all_providers():
        tenant = TenantFactory(name=f"has-{provider.provider_key}")
        FACTORY_OF[provider](tenant=tenant, ident="one")
    TenantFactory(name="empty")

    for provider in all_providers():
        response = support.get("/", {"q": getattr(provider, how).upper()})

        assert f"has-{provider.provider_key}" in found(response)
        assert "empty" not in found(response)
        hits = {t.name: t.hits for t in response.context["tenants"]}
        [hit] = hits[f"has-{provider.provider_key}"]
        assert hit.provider is provider and hit.provider_matched


@pytest.mark.django_db
def test_a_secret_value_is_never_searchable(support):
    tenant = TenantFactory(name="acme")
    for factory in PROVIDER_FACTORIES:
        integration = factory(tenant=tenant)
        for name in integration.secret_field_names():
            secret = getattr(integration, name).reveal()

            response = support.get("/", {"q": secret})

            assert found(response) == [], f"found by the secret {integration.provider_key}.{name}"
            assert "No tenant matches" in response.content.decode()


@pytest.mark.django_db
def test_the_matching_integrations_shown_in_results_never_carry_a_secret(support):
    tenant = TenantFactory(name="acme")
    secrets = set()
    for factory in PROVIDER_FACTORIES:
        integration = factory(tenant=tenant)
        secrets |= {getattr(integration, n).reveal() for n in integration.secret_field_names()}

    for query in ["acme", "-", "e", *(p.provider_key for p in all_providers())]:
        response = support.get("/", {"q": query})

        assert found(response) == ["acme"]
        html = response.content.decode()
        assert not [secret for secret in secrets if secret in html], query


@pytest.mark.django_db
def test_the_search_never_finds_deleted_integrations_or_deleted_tenants(support):
    kept = TenantFactory(name="kept")
    gone = TwilioFactory(tenant=kept, ident="gone", account="AC-DELETED-1")
    integration_delete(integration=gone, actor=actor_named())
    TwilioFactory(tenant=TenantFactory(name="deleted-tenant"), account="AC-DELETED-2")
    tenant_delete(tenant=TenantFactory(name="deleted-tenant"), actor=actor_named())

    assert found(support.get("/", {"q": "AC-DELETED"})) == []
    assert found(support.get("/", {"q": "deleted-tenant"})) == []


@pytest.mark.django_db
def test_percent_and_underscore_in_a_query_are_plain_characters(support):
    TwilioFactory(tenant=TenantFactory(name="acme"), account="100%_sure")
    TwilioFactory(tenant=TenantFactory(name="globex"), account="100-percent")

    assert found(support.get("/", {"q": "%_"})) == ["acme"]
    assert found(support.get("/", {"q": "_"})) == ["acme"]


@pytest.mark.django_db
def test_a_search_and_the_provider_filter_combine_and_survive_pagination(support):
    for n in range(30):
        tenant = TenantFactory(name=f"shop-{n:02}")
        if n % 2:
            TwilioFactory(tenant=tenant)
    TwilioFactory(tenant=TenantFactory(name="elsewhere"))

    first = support.get("/", {"q": "shop", "provider": "twilio"})
    twilio_only = support.get("/", {"provider": "twilio"})
    unknown = support.get("/", {"provider": "no-such-provider"})

    assert found(first) == [f"shop-{n:02}" for n in range(1, 30, 2)]
    assert len(found(twilio_only)) == 16
    assert len(found(unknown)) == 25  # ignored: the select shows "All providers"
    html = first.content.decode()
    assert '<option value="twilio" selected>Twilio</option>' in html
    assert "15 tenants matching “shop” with Twilio" in html
    many = support.get("/", {"q": "shop"})
    assert 'href="?q=shop&amp;page=2"' in many.content.decode()
    paged = support.get("/", {"q": "shop", "provider": "twilio", "page": 1})
    assert found(paged) == found(first)


@pytest.mark.django_db
def test_each_provider_is_shown_once_per_tenant_with_a_count_when_there_are_several(support):
    tenant = TenantFactory(name="acme")
    for n in range(3):
        TwilioFactory(tenant=tenant, ident=f"twilio-{n}")
    FACTORY_OF[all_providers()[0]](tenant=tenant, ident="only-one")
    gone = TwilioFactory(tenant=tenant, ident="twilio-gone")
    integration_delete(integration=gone, actor=actor_named())

    response = support.get("/")

    [row] = response.context["tenants"]
    configured = [(c.provider.provider_key, c.count) for c in row.overview.configured]
    assert configured == sorted(
        [(all_providers()[0].provider_key, 1), ("twilio", 3)],
        key=lambda pair: [p.provider_key for p in all_providers()].index(pair[0]),
    )
    assert row.overview.total == 4
    html = response.content.decode()
    assert len(re.findall(r'class="badge badge-twilio"', html)) == 1
    assert "\N{MULTIPLICATION SIGN}3" in html
    assert "\N{MULTIPLICATION SIGN}1" not in html


@pytest.mark.django_db
def test_the_admin_integration_search_covers_the_same_values():
    search_fields = set(IntegrationParentAdmin.search_fields)

    assert set(integration_search_paths()) <= search_fields
    assert {"ident", "tenant__name", "tenant__display_name"} <= search_fields
    secret_paths = {
        f"{provider._meta.model_name}__{name}"
        for provider in all_providers()
        for name in provider.secret_field_names()
    }
    assert not secret_paths & search_fields


@pytest.mark.django_db
@pytest.mark.parametrize("provider,model_field", every_searchable_field())
def test_the_admin_integration_list_finds_an_integration_by_any_non_secret_value(
    admin, provider, model_field
):
    FACTORY_OF[provider](tenant=TenantFactory(name="other"), ident="decoy")
    value, needle = distinctive(model_field, 3)
    wanted = FACTORY_OF[provider](
        tenant=TenantFactory(name="acme"), ident="main", **{model_field.name: value}
    )

    response = admin.get("/admin/integrations/integration/", {"q": needle.upper()})

    assert response.status_code == 200
    assert [row.pk for row in response.context["cl"].result_list] == [wanted.pk]


@pytest.mark.django_db
def test_the_admin_integration_list_finds_integrations_by_provider_and_keeps_its_filters(admin):
    for provider in all_providers():
        FACTORY_OF[provider](tenant=TenantFactory(name="acme"), ident=f"{provider.provider_key}-a")
    gone = TwilioFactory(tenant=TenantFactory(name="acme"), ident="twilio-gone")
    integration_delete(integration=gone, actor=actor_named())

    for provider in all_providers():
        response = admin.get("/admin/integrations/integration/", {"q": provider.label})

        rows = response.context["cl"].result_list
        assert [row.ident for row in rows] == [f"{provider.provider_key}-a"]
    deleted = admin.get("/admin/integrations/integration/", {"q": "twilio", "status": "deleted"})
    assert [row.ident for row in deleted.context["cl"].result_list] == ["twilio-gone"]
    nothing = admin.get("/admin/integrations/integration/", {"q": "a-secret-value"})
    assert list(nothing.context["cl"].result_list) == []


@pytest.mark.django_db
def test_every_word_of_an_admin_search_must_match_something_of_the_integration(admin):
    for name in ["acme", "globex"]:
        tenant = TenantFactory(name=name)
        TwilioFactory(tenant=tenant, account=f"AC-{name.upper()}")
        FACTORY_OF[all_providers()[0]](tenant=tenant, ident="other")

    def idents(q: str) -> list[str]:
        response = admin.get("/admin/integrations/integration/", {"q": q})
        return sorted(f"{i.tenant.name}/{i.ident}" for i in response.context["cl"].result_list)

    assert idents("acme twilio") == ["acme/twilio"]
    assert idents("Twilio ac-glob") == ["globex/twilio"]
    assert idents('"acme" other') == ["acme/other"]
    assert idents("acme nothing-like-it") == []
