import pytest

from tenants.models import Tenant
from tenants.services import tenant_delete
from tests.factories import DataSiftFactory, TenantFactory, TwilioFactory, actor_named


@pytest.mark.django_db
def test_every_staff_page_sends_an_anonymous_visitor_to_the_login_page(client, tenant):
    for url in ["/", "/new-tenant/", "/tenants/acme/", "/tenants/acme/add-integration/"]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.django_db
def test_the_login_page_logs_a_user_in_and_lands_on_the_tenant_list(client, support_user):
    page = client.get("/accounts/login/")
    assert page.status_code == 200
    assert b'name="csrfmiddlewaretoken"' in page.content

    response = client.post(
        "/accounts/login/", {"username": "support", "password": "correct-horse-battery-staple"}
    )

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.get("/").status_code == 200


@pytest.mark.django_db
def test_logout_is_a_post_and_ends_the_session(support):
    response = support.post("/accounts/logout/")

    assert response.status_code == 302
    assert support.get("/").status_code == 302


@pytest.mark.django_db
def test_the_tenant_list_shows_which_providers_each_tenant_has(support, tenant, other_tenant):
    TwilioFactory(tenant=tenant)
    DataSiftFactory(tenant=tenant)
    deleted = TwilioFactory(tenant=other_tenant, ident="old-twilio")
    deleted.deleted_at = deleted.updated_at
    deleted.save()

    response = support.get("/")

    assert response.status_code == 200
    rows = {t.name: t for t in response.context["tenants"]}
    acme, globex = rows["acme"].overview, rows["globex"].overview
    assert [(c.provider.provider_key, c.count) for c in acme.configured] == [
        ("datasift", 1),
        ("twilio", 1),
    ]
    assert acme.total == 2
    assert globex.configured == []  # a deleted integration is not "configured"
    assert globex.total == 0
    assert b"DataSift" in response.content and b"nothing yet" in response.content


@pytest.mark.django_db
def test_the_tenant_list_searches_by_name_and_display_name(support, tenant, other_tenant):
    by_name = support.get("/", {"q": "acm"})
    by_display_name = support.get("/", {"q": "GLOBEX"})
    nothing = support.get("/", {"q": "initech"})

    assert [t.name for t in by_name.context["tenants"]] == ["acme"]
    assert [t.name for t in by_display_name.context["tenants"]] == ["globex"]
    assert nothing.context["tenants"] == []
    assert "No tenant matches" in nothing.content.decode()


@pytest.mark.django_db
def test_the_tenant_list_is_paginated_by_25_and_keeps_the_search(support):
    for n in range(30):
        TenantFactory(name=f"shop-{n:02}")

    first = support.get("/", {"q": "shop"})
    second = support.get("/", {"q": "shop", "page": 2})

    assert len(first.context["tenants"]) == 25
    assert len(second.context["tenants"]) == 5
    assert 'href="?q=shop&amp;page=2"' in first.content.decode()


@pytest.mark.django_db
def test_the_list_searched_or_not_is_a_count_and_a_page(support, count_sql):
    """Django's COUNT, then the page: with a search's integrations matched apart (an array on
    PostgreSQL, see config.lookups), the page can stop at its end by the name index, which a
    COUNT(*) OVER () in the page's statement would defeat by counting every match first."""
    for n in range(30):
        TenantFactory(name=f"shop-{n:02}")

    with count_sql() as whole:
        every = support.get("/", {"page": 2})
    with count_sql() as searched:
        found = support.get("/", {"q": "shop", "page": 2})

    for response, statements in ((every, whole.statements), (found, searched.statements)):
        assert response.status_code == 200
        assert response.context["paginator"].count == 30
        assert [t.name for t in response.context["tenants"]] == [f"shop-{n}" for n in range(25, 30)]
        tenant_reads = [s for s in statements if '"tenants_tenant"' in s.split(" FROM ")[1]]
        assert [s.startswith("SELECT COUNT(*)") for s in tenant_reads] == [True, False]
        assert not any(" OVER " in s for s in statements)


@pytest.mark.django_db
def test_the_tenant_list_hides_deleted_tenants(support, tenant, other_tenant):
    tenant_delete(tenant=other_tenant, actor=actor_named())

    response = support.get("/")

    assert [t.name for t in response.context["tenants"]] == ["acme"]


@pytest.mark.django_db
def test_staff_can_create_a_tenant(support):
    response = support.post("/new-tenant/", {"name": "initech", "display_name": "Initech"})

    assert response.status_code == 302
    assert response["Location"] == "/tenants/initech/"
    assert Tenant.objects.get(name="initech").display_name == "Initech"
    page = support.get(response["Location"])
    assert "Tenant &#x27;initech&#x27; created." in page.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name,message",
    [
        ("", "This field is required."),
        ("Not A Slug", "Enter a valid “slug”"),
        ("acme", "Tenant with this Name already exists."),
    ],
)
def test_creating_a_tenant_with_a_bad_name_shows_the_error_and_creates_nothing(
    support, tenant, name, message
):
    response = support.post("/new-tenant/", {"name": name, "display_name": "Typed"})

    assert response.status_code == 200
    assert message in response.content.decode()
    assert 'value="Typed"' in response.content.decode()  # what was typed is kept
    assert Tenant.all_objects.count() == 1


@pytest.mark.django_db
def test_a_deleted_tenants_name_cannot_be_taken_again_from_the_ui(support, tenant):
    tenant_delete(tenant=tenant, actor=actor_named())

    response = support.post("/new-tenant/", {"name": "acme"})

    assert response.status_code == 200
    assert "A deleted tenant has this name" in response.content.decode()
    assert Tenant.all_objects.count() == 1


@pytest.mark.django_db
def test_a_deleted_or_unknown_tenant_page_is_a_404(support, tenant):
    tenant_delete(tenant=tenant, actor=actor_named())

    assert support.get("/tenants/acme/").status_code == 404
    assert support.get("/tenants/nobody/").status_code == 404
