"""No stored secret value appears in any rendered page, staff pages or admin, for anyone.

Every secret field of every provider holds a unique marker; every page a person can reach is
fetched as a superuser, a view-only staff user, and a user who may change integrations but
only view the provider models, and no marker may appear in any of them. (Read-only admin
fields render values through a path that never asks the form field; the sealed value's str()
is what keeps them out.)
"""

import pytest
from django.contrib.auth.models import Permission, User

from integrations.models import Integration
from integrations.providers import all_providers
from tests.factories import PROVIDER_FACTORIES
from tests.web.conftest import PASSWORD, logged_in
from tests.web.support import submitted_form


def _marker(provider_key: str, name: str) -> str:
    return f"LEAK-MARKER-{provider_key}-{name}"


@pytest.fixture
def one_of_each(tenant):
    integrations = []
    for factory in PROVIDER_FACTORIES:
        model = factory._meta.model
        secrets = {name: _marker(model.provider_key, name) for name in model.secret_field_names()}
        integrations.append(factory(tenant=tenant, **secrets))
    return integrations


def _every_marker() -> list[str]:
    return [
        _marker(provider.provider_key, name)
        for provider in all_providers()
        for name in provider.secret_field_names()
    ]


def _staff_user(username: str, codenames: list[str]) -> User:
    user = User.objects.create_user(username, password=PASSWORD, is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


@pytest.fixture(params=["superuser", "view-only", "change-base-view-providers"])
def any_staff_user(request, db):
    """Each kind of person who may open the admin."""
    if request.param == "superuser":
        return User.objects.create_superuser("boss", "boss@example.com", PASSWORD)
    views = list(
        Permission.objects.filter(codename__startswith="view_").values_list("codename", flat=True)
    )
    if request.param == "view-only":
        return _staff_user("viewer", views)
    return _staff_user("changer", [*views, "change_integration", "change_tenant"])


def _pages(tenant, integrations) -> list[str]:
    staff = [
        "/",
        "/?q=acme",
        "/?status=failing",
        "/tenants/acme/",
        "/tenants/acme/add-integration/",
    ]
    for integration in integrations:
        staff += [
            f"/tenants/acme/add-integration/{integration.provider_key}/",
            f"/tenants/acme/integrations/{integration.ident}/edit/",
            f"/tenants/acme/integrations/{integration.ident}/delete/",
        ]
    admin = [
        "/admin/",
        "/admin/tenants/tenant/",
        "/admin/tenants/tenant/?q=acme",
        f"/admin/tenants/tenant/{tenant.pk}/change/",
        f"/admin/tenants/tenant/{tenant.pk}/history/",
        "/admin/tenants/apitoken/",
        "/admin/integrations/integration/",
        "/admin/integrations/integration/?status=all",
        "/admin/integrations/integration/?q=acme",
        "/admin/integrations/integration/?q=LEAK-MARKER",
        "/admin/integrations/integration/?verification=rejected",
    ]
    for integration in integrations:
        opts = type(integration)._meta
        child = f"/admin/{opts.app_label}/{opts.model_name}/{integration.pk}"
        parent = f"/admin/integrations/integration/{integration.pk}"
        admin += [
            f"{child}/change/",
            f"{child}/history/",
            f"{child}/delete/",
            f"{parent}/change/",
            f"{parent}/history/",
            f"/admin/{opts.app_label}/{opts.model_name}/",
        ]
    return staff + admin


def _assert_no_marker_on_any_page(client, tenant, integrations):
    markers = _every_marker()
    assert len(markers) == sum(len(p.secret_field_names()) for p in all_providers())
    seen_ok = 0
    for url in _pages(tenant, integrations):
        response = client.get(url, follow=True)
        assert response.status_code in {200, 403}, url
        seen_ok += response.status_code == 200
        body = response.content.decode()
        leaked = [marker for marker in markers if marker in body]
        assert leaked == [], f"{url} shows {leaked}"
    assert seen_ok > len(integrations) * 3  # the pages were really rendered, not refused


@pytest.mark.django_db
def test_no_page_shows_a_stored_secret_to_any_staff_user(any_staff_user, tenant, one_of_each):
    _assert_no_marker_on_any_page(logged_in(any_staff_user), tenant, one_of_each)


@pytest.mark.django_db
def test_a_view_only_user_sees_that_a_secret_is_stored_not_what_it_is(tenant):
    twilio = next(f for f in PROVIDER_FACTORIES if f._meta.model.provider_key == "twilio")
    stored = twilio(tenant=tenant, password="LEAK-MARKER-twilio-password")
    views = Permission.objects.filter(codename__startswith="view_")
    viewer = _staff_user("only-looks", list(views.values_list("codename", flat=True)))

    page = logged_in(viewer).get(f"/admin/integrations/twiliointegration/{stored.pk}/change/")

    assert page.status_code == 200
    body = page.content.decode()
    assert "secret stored" in body
    assert "LEAK-MARKER" not in body


@pytest.mark.django_db
def test_no_page_contains_a_secret_after_saving_through_the_admin_either(
    admin_user, tenant, one_of_each
):
    client = logged_in(admin_user)
    twilio = next(i for i in one_of_each if i.provider_key == "twilio")
    client.post(
        f"/admin/integrations/twiliointegration/{twilio.pk}/change/",
        {"tenant": tenant.pk, "ident": "twilio", "account": "AC-CHANGED", "password": ""},
    )
    twilio.refresh_from_db()
    assert (twilio.account, twilio.password) == ("AC-CHANGED", "LEAK-MARKER-twilio-password")

    history = client.get(f"/admin/integrations/twiliointegration/{twilio.pk}/history/")

    assert "LEAK-MARKER" not in history.content.decode()
    assert "Changed Account SID." in history.content.decode()  # the blank secret is not "changed"
    _assert_no_marker_on_any_page(client, tenant, one_of_each)


@pytest.mark.django_db
def test_no_secret_shows_after_saving_testing_or_verifying_in_the_admin(
    admin_user, tenant, one_of_each, fake_providers
):
    """The offer to test after a save, each card's outcome and message after "Test connection"
    (the providers refuse the markers: rejected, or unreachable where the marker cannot be sent),
    and the admin's summary after "Verify selected"."""
    client = logged_in(admin_user)
    markers = _every_marker()
    pages = []
    for integration in one_of_each:
        edit = f"/tenants/acme/integrations/{integration.ident}/edit/"
        pages.append(
            client.post(edit, submitted_form(client.get(edit).content.decode()), follow=True)
        )
        assert 'class="message message-info offer-test"' in pages[-1].content.decode()
        test = f"/tenants/acme/integrations/{integration.ident}/test-connection/"
        pages.append(client.post(test, follow=True))
    pages.append(
        client.post(
            "/admin/integrations/integration/",
            {
                "action": "verify_selected",
                "_selected_action": [i.pk for i in one_of_each],
                "post": "yes",
            },
            follow=True,
        )
    )
    pages.append(client.get("/tenants/acme/"))
    pages.append(client.get("/admin/integrations/integration/"))

    for page in pages:
        assert page.status_code == 200
        body = page.content.decode()
        assert [marker for marker in markers if marker in body] == []
    assert Integration.objects.filter(last_verification="").count() == 0
    assert len(fake_providers.seen) > len(one_of_each)  # the tests reached the providers
