"""No tenant or integration can be named so as to shadow a staff page: for every fixed word of
the staff routes (new-tenant, tenants, add-integration, integrations, edit, delete, ...), a
tenant and an integration named that word are created through the staff forms, and then every
staff route, built with those names, resolves to itself and answers with that very tenant and
integration. The routes and their words are read from integrations/web/urls.py, so a route
added later is walked too."""

import pytest
from django.urls import URLPattern, resolve, reverse

from integrations import services
from integrations.models import Integration
from integrations.providers import TwilioIntegration, all_providers
from integrations.web import urls
from tests.factories import actor_named

ROUTES: list[URLPattern] = [p for p in urls.urlpatterns if isinstance(p, URLPattern)]
FIXED_WORDS = sorted(
    {
        segment
        for route in ROUTES
        for segment in str(route.pattern).split("/")
        if segment and "<" not in segment
    }
)


def test_the_walk_covers_the_words_of_the_issue():
    assert {"new-tenant", "tenants", "add-integration", "integrations", "edit", "delete"} <= set(
        FIXED_WORDS
    )


def urls_of_every_route(values: dict) -> list[tuple[str, str, dict]]:
    """(route name, URL, kwargs) for every staff route; a provider-taking route once per
    provider."""
    built = []
    for route in ROUTES:
        names = list(route.pattern.converters)
        providers = all_providers() if "provider" in names else [None]
        for provider in providers:
            kwargs = {
                name: provider.provider_key if name == "provider" else values[name]
                for name in names
            }
            built.append((route.name, reverse(route.name, kwargs=kwargs), kwargs))
    return built


@pytest.mark.django_db
@pytest.mark.parametrize("word", FIXED_WORDS)
def test_every_staff_page_is_reachable_for_a_tenant_and_an_integration_named_like_a_fixed_word(
    admin, word
):
    # Both made through the staff forms: the names are valid there.
    created = admin.post("/new-tenant/", {"name": word, "display_name": f"Tenant {word}"})
    assert (created.status_code, created["Location"]) == (302, f"/tenants/{word}/")
    added = admin.post(
        f"/tenants/{word}/add-integration/twilio/",
        {"ident": word, "account": "AC1", "password": "tw-secret-1"},
    )
    assert added.status_code == 302, added.content.decode()[:500]
    assert added["Location"] == f"/tenants/{word}/#integration-{word}"
    integration = Integration.objects.get(tenant__name=word, ident=word)
    admin.post(f"/tenants/{word}/integrations/{word}/edit/", {"account": "AC2", "password": ""})
    gone = services.integration_upsert(
        tenant=integration.tenant,
        ident=f"{word}-gone",
        provider=TwilioIntegration,
        data={"account": "AC3", "password": "tw-secret-3"},
        actor=actor_named(),
    )[0]
    services.integration_delete(integration=gone, actor=actor_named())
    values = {"tenant": word, "ident": word, "number": 1, "pk": gone.pk}

    listed = admin.get("/", {"q": word}).content.decode()
    assert f'href="/tenants/{word}/"' in listed

    walked = set()
    for name, url, kwargs in urls_of_every_route(values):
        match = resolve(url)
        assert (match.url_name, match.kwargs) == (name, kwargs), f"{url} is shadowed"

        response = admin.get(url)
        if response.status_code == 405:  # a page that only takes a POST (undo a delete)
            response = admin.post(url)
        assert response.status_code in {200, 302}, (url, response.status_code)
        if response.status_code == 200 and "tenant" in kwargs:
            assert response.context["tenant"].name == word, url
        if response.status_code == 200 and "ident" in kwargs:
            shown = response.context.get("integration") or response.context["form"].instance
            assert (shown.tenant.name, shown.ident) == (word, word), url
        walked.add(name)

    assert walked == {route.name for route in ROUTES}
    assert Integration.objects.filter(pk=gone.pk, deleted_at__isnull=True).exists()  # undone
