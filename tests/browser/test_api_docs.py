"""The API docs at /1.0/docs render in a real browser, from this server's files only."""

import pytest
from django.test import Client
from playwright.sync_api import expect

from integrations.providers import all_providers

pytestmark = pytest.mark.browser


def test_the_api_docs_render_every_operation_without_a_token_or_another_site(
    page, live_server, secrets_never_shown
):
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))

    page.goto("/1.0/docs")

    expect(page.get_by_text("Integration registry API").first).to_be_visible()
    operations = page.locator(".opblock")
    paths = Client().get("/1.0/openapi.json").json()["paths"]
    documented = [method for item in paths.values() for method in item]
    expect(operations).to_have_count(len(documented))
    for summary in ("List the tenant's integrations", "Delete an integration"):
        expect(page.get_by_text(summary, exact=True)).to_be_visible()
    expect(page.locator(".btn.authorize")).to_be_visible()  # the Bearer scheme
    schemas = page.locator(".models")
    for provider in all_providers():
        for title in (f"{provider.label} integration", f"{provider.label} integration (change)"):
            expect(schemas.get_by_text(title, exact=True)).to_be_visible()
    secrets_never_shown.seen(page)
    elsewhere = [url for url in requested if not url.startswith(live_server.url)]
    assert elsewhere == [], elsewhere
