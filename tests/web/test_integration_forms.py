import pytest

from integrations.forms import KEEP_PLACEHOLDER
from integrations.models import Integration
from integrations.providers import TwilioIntegration
from tests.factories import SalesforceFactory, TwilioFactory, actor_named

ADD_TWILIO = "/tenants/acme/add-integration/twilio/"
EDIT_TWILIO = "/tenants/acme/integrations/twilio/edit/"


@pytest.mark.django_db
def test_the_provider_choice_lists_every_provider(support, tenant):
    response = support.get("/tenants/acme/add-integration/")

    assert response.status_code == 200
    body = response.content.decode()
    for key in ["salesforce", "twilio", "sendgrid", "datasift"]:
        assert f'href="/tenants/acme/add-integration/{key}/"' in body


@pytest.mark.django_db
def test_the_add_form_is_generated_from_the_provider_model(support, tenant):
    body = support.get("/tenants/acme/add-integration/salesforce/").content.decode()

    for label in ["Consumer key", "Consumer secret", "Username", "Password", "Secret token"]:
        assert f'>{label} <span class="required"' in body
    assert "Get Salesforce secret token</a>" in body
    assert "Get Salesforce Consumer key/secret</a>" in body
    assert 'type="password" name="secret_token"' in body
    assert 'type="email" name="username"' in body


@pytest.mark.django_db
def test_adding_an_integration_stores_it_through_the_service(support, tenant):
    response = support.post(
        ADD_TWILIO, {"ident": "twilio", "account": "AC123", "password": "tw-token-1"}
    )

    assert response.status_code == 302
    assert response["Location"] == "/tenants/acme/#integration-twilio"  # its card
    stored = TwilioIntegration.objects.get(tenant=tenant, ident="twilio")
    assert (stored.account, stored.password, stored.provider_key) == (
        "AC123",
        "tw-token-1",
        "twilio",
    )
    assert stored.updated_by == "support"
    page = support.get("/tenants/acme/").content.decode()
    assert "Twilio integration &#x27;twilio&#x27; added." in page
    assert "secret stored" in page
    assert "tw-token-1" not in page


@pytest.mark.django_db
def test_an_invalid_add_shows_errors_by_the_fields_and_keeps_what_was_typed_but_the_secret(
    support, tenant
):
    response = support.post(
        "/tenants/acme/add-integration/salesforce/",
        {
            "ident": "salesforce",
            "consumer_key": "ck-typed",
            "consumer_secret": "cs-typed-secret",
            "username": "not-an-email",
            "password": "",
            "secret_token": "st-typed-secret",
        },
    )

    assert response.status_code == 400
    body = response.content.decode()
    assert "Enter a valid email address." in body
    assert "This field is required." in body
    assert 'value="ck-typed"' in body and 'value="not-an-email"' in body
    assert "cs-typed-secret" not in body and "st-typed-secret" not in body
    assert not Integration.all_objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "ident,message",
    [
        ("Not Valid", "Use lower-case letters, digits"),
        ("salesforce", "reserved for salesforce integrations"),
        ("twilio", "already has an integration with this id"),
    ],
)
def test_adding_with_a_bad_or_taken_id_is_refused(support, tenant, ident, message):
    TwilioFactory(tenant=tenant)

    response = support.post(ADD_TWILIO, {"ident": ident, "account": "AC1", "password": "x"})

    assert response.status_code == 400
    assert message in response.content.decode()
    assert Integration.all_objects.count() == 1


@pytest.mark.django_db
def test_a_second_integration_of_one_type_gets_its_own_id(support, tenant):
    TwilioFactory(tenant=tenant)

    response = support.post(ADD_TWILIO, {"ident": "twilio-eu", "account": "AC2", "password": "y"})

    assert response.status_code == 302
    assert sorted(TwilioIntegration.objects.values_list("ident", flat=True)) == [
        "twilio",
        "twilio-eu",
    ]


@pytest.mark.django_db
def test_the_edit_form_never_contains_the_stored_secret(support, tenant):
    TwilioFactory(tenant=tenant, password="stored-auth-token")

    body = support.get(EDIT_TWILIO).content.decode()

    assert "stored-auth-token" not in body
    assert f'placeholder="{KEEP_PLACEHOLDER}"' in body
    assert 'value="AC0123456789"' in body


@pytest.mark.django_db
def test_editing_with_a_blank_secret_keeps_it(support, tenant):
    TwilioFactory(tenant=tenant, password="stored-auth-token")

    response = support.post(EDIT_TWILIO, {"account": "AC-NEW", "password": ""})

    assert response.status_code == 302
    stored = TwilioIntegration.objects.get(tenant=tenant)
    assert (stored.account, stored.password) == ("AC-NEW", "stored-auth-token")


@pytest.mark.django_db
def test_editing_with_a_new_secret_replaces_it(support, tenant):
    TwilioFactory(tenant=tenant, password="stored-auth-token")

    support.post(EDIT_TWILIO, {"account": "AC0123456789", "password": "rotated-token"})

    assert TwilioIntegration.objects.get(tenant=tenant).password == "rotated-token"


@pytest.mark.django_db
def test_the_id_cannot_be_changed_on_edit(support, tenant):
    TwilioFactory(tenant=tenant)

    support.post(EDIT_TWILIO, {"ident": "renamed", "account": "AC1", "password": ""})

    assert list(Integration.objects.values_list("ident", flat=True)) == ["twilio"]


@pytest.mark.django_db
def test_an_invalid_edit_changes_nothing(support, tenant):
    TwilioFactory(tenant=tenant, account="AC-OLD", password="stored")

    response = support.post(EDIT_TWILIO, {"account": "", "password": "new-but-rejected"})

    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    assert "new-but-rejected" not in response.content.decode()
    stored = TwilioIntegration.objects.get(tenant=tenant)
    assert (stored.account, stored.password) == ("AC-OLD", "stored")


@pytest.mark.django_db
def test_delete_asks_for_confirmation_then_soft_deletes(support, tenant):
    integration = SalesforceFactory(tenant=tenant)
    url = "/tenants/acme/integrations/salesforce/delete/"

    confirm = support.get(url)
    assert confirm.status_code == 200
    assert "Delete Salesforce integration “salesforce”?" in confirm.content.decode()
    assert Integration.objects.filter(pk=integration.pk).exists()

    response = support.post(url)

    assert response.status_code == 302
    integration.refresh_from_db()
    assert integration.deleted_at is not None
    assert integration.updated_by == "support"
    page = support.get("/tenants/acme/")
    assert page.context["integrations"] == []
    assert "deleted." in page.content.decode()


@pytest.mark.django_db
def test_deleting_an_integration_someone_deleted_meanwhile_is_404_and_keeps_their_delete(
    support, tenant, monkeypatch
):
    from integrations import services

    integration = SalesforceFactory(tenant=tenant)
    delete = services.integration_delete

    def deleted_first_by_another(*, integration, actor):
        delete(
            integration=Integration.all_objects.get(pk=integration.pk), actor=actor_named("other")
        )
        delete(integration=integration, actor=actor)

    monkeypatch.setattr(services, "integration_delete", deleted_first_by_another)

    response = support.post("/tenants/acme/integrations/salesforce/delete/")

    assert response.status_code == 404
    assert Integration.all_objects.get(pk=integration.pk).updated_by == "other"


@pytest.mark.django_db
def test_an_add_that_loses_the_race_for_its_id_says_so_on_the_form_and_replaces_nothing(
    support, tenant, monkeypatch
):
    from integrations import services

    create = services.integration_create

    def created_first_by_another(*, integration, actor):
        TwilioFactory(tenant=tenant, account="AC-theirs", password="their-secret")
        return create(integration=integration, actor=actor)

    monkeypatch.setattr(services, "integration_create", created_first_by_another)

    response = support.post(
        ADD_TWILIO, {"ident": "twilio", "account": "AC1", "password": "typed-secret"}
    )

    assert response.status_code == 409
    page = response.content.decode()
    assert "This tenant already has an integration with this id." in page
    assert "typed-secret" not in page
    theirs = Integration.objects.get()
    assert (theirs.account, theirs.password) == ("AC-theirs", "their-secret")


@pytest.mark.django_db
def test_saving_an_integration_someone_deleted_meanwhile_is_404(support, tenant, monkeypatch):
    from integrations import services

    twilio = TwilioFactory(tenant=tenant, account="AC-old")
    update = services.integration_update

    def deleted_first(*, integration, data, actor):
        services.integration_delete(integration=integration, actor=actor_named("other"))
        return update(integration=integration, data=data, actor=actor)

    monkeypatch.setattr(services, "integration_update", deleted_first)

    response = support.post(EDIT_TWILIO, {"ident": "twilio", "account": "AC-new", "password": ""})

    assert response.status_code == 404
    row = Integration.all_objects.get(pk=twilio.pk)
    assert (row.account, row.updated_by) == ("AC-old", "other")


@pytest.mark.django_db
def test_unknown_provider_and_unknown_or_deleted_integration_are_404(support, tenant):
    gone = TwilioFactory(tenant=tenant)
    gone.deleted_at = gone.created_at
    gone.save()

    assert support.get("/tenants/acme/add-integration/nosuch/").status_code == 404
    assert support.get(EDIT_TWILIO).status_code == 404
    assert support.get("/tenants/acme/integrations/nosuch/delete/").status_code == 404


@pytest.mark.django_db
def test_forms_are_csrf_protected(support_user, tenant):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(support_user)

    response = client.post(ADD_TWILIO, {"ident": "twilio", "account": "AC1", "password": "x"})

    assert response.status_code == 403
    assert not Integration.all_objects.exists()


@pytest.mark.django_db
def test_a_secret_is_stored_exactly_as_typed_spaces_included(support, tenant):
    support.post(ADD_TWILIO, {"ident": "twilio", "account": " AC1 ", "password": " pass word "})

    stored = TwilioIntegration.objects.get(tenant=tenant)
    assert (stored.account, stored.password) == ("AC1", " pass word ")


@pytest.mark.django_db
def test_a_secret_of_only_spaces_is_refused(support, tenant):
    TwilioFactory(tenant=tenant, password="stored")

    response = support.post(EDIT_TWILIO, {"account": "AC1", "password": "   "})

    assert response.status_code == 400
    assert "May not be only whitespace." in response.content.decode()
    assert TwilioIntegration.objects.get(tenant=tenant).password == "stored"
