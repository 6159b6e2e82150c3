"""One secret that no configured key decrypts (written under a key since dropped) must not
take its tenant down: every other record reads normally, the broken value is named (never
shown as ciphertext or garbage), and replacing, patching or deleting the record works."""

import json

import pytest
from cryptography.fernet import Fernet
from django.db import connection

from integrations.models import Integration
from tests.api.support import JSON, TWILIO, fields_of, post_json, url
from tests.factories import SalesforceFactory, SendGridFactory, TwilioFactory
from tests.integrations.support import raw_column
from tests.web.conftest import SUPPORT_PERMISSIONS, logged_in, make_user

pytestmark = pytest.mark.django_db

FOREIGN = Fernet(Fernet.generate_key())


def patch_json(client, path: str, body: dict):
    return client.patch(path, json.dumps(body), content_type=JSON)


def break_secret(integration, field_name: str) -> str:
    """Overwrite one stored secret with a token under a key the app does not have."""
    model = type(integration)
    table = connection.ops.quote_name(model._meta.db_table)
    column = connection.ops.quote_name(model._meta.get_field(field_name).column)
    token = FOREIGN.encrypt(b"lost-forever").decode()
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {column} = %s WHERE integration_ptr_id = %s",  # noqa: S608
            [token, integration.pk],
        )
    return token


@pytest.fixture
def support_user(db):
    return make_user("support", SUPPORT_PERMISSIONS)


@pytest.fixture
def broken_twilio(tenant):
    twilio = TwilioFactory(tenant=tenant, password="readable-before")
    break_secret(twilio, "password")
    return twilio


@pytest.fixture
def neighbours(tenant):
    return [
        SalesforceFactory(tenant=tenant, password="sf-readable-password"),
        SendGridFactory(tenant=tenant, password="sg-readable-password"),
    ]


def test_a_secrets_token_reads_the_record_minus_the_unreadable_value(
    tenant_client, broken_twilio, neighbours
):
    response = tenant_client.get(url("twilio"))

    assert response.status_code == 200
    assert fields_of(response.json()) == {
        "id": "twilio",
        "type": "twilio",
        "account": broken_twilio.account,
        "password": None,
        "unreadable-secrets": ["password"],
    }


def test_the_tenants_list_still_answers_with_every_readable_secret(
    tenant_client, broken_twilio, neighbours
):
    response = tenant_client.get("/1.0/tenants/acme/integrations")

    assert response.status_code == 200
    records = {record["id"]: record for record in response.json()}
    assert records["twilio"]["unreadable-secrets"] == ["password"]
    assert records["salesforce"]["password"] == "sf-readable-password"
    assert "unreadable-secrets" not in records["salesforce"]
    assert "gAAAAA" not in response.content.decode()  # never ciphertext


def test_a_token_without_secrets_sees_the_mask_and_decrypts_nothing(
    token_client, tenant, broken_twilio, monkeypatch
):
    from integrations import encryption

    def no_decrypting(*args, **kwargs):
        raise AssertionError("a masked read must not decrypt")

    monkeypatch.setattr(encryption, "decrypt", no_decrypting)

    response = token_client(tenant, "read").get("/1.0/tenants/acme/integrations")

    assert response.status_code == 200
    assert response.json()[0]["password"] == "********"


def test_replace_patch_and_delete_of_the_broken_record_work(tenant_client, broken_twilio):
    replaced = post_json(tenant_client, url("twilio"), TWILIO)
    assert replaced.status_code == 200
    assert replaced.json()["password"] == TWILIO["password"]

    break_secret(broken_twilio, "password")
    patched = patch_json(tenant_client, url("twilio"), {"password": "typed-again"})
    assert patched.status_code == 200
    assert Integration.objects.get(pk=broken_twilio.pk).password == "typed-again"

    break_secret(broken_twilio, "password")
    assert patch_json(tenant_client, url("twilio"), {"account": "AC9"}).status_code == 200
    assert tenant_client.delete(url("twilio")).status_code == 204


def test_the_tenant_page_marks_the_unreadable_secret_and_shows_the_others(
    support_user, broken_twilio, neighbours
):
    page = logged_in(support_user).get("/tenants/acme/")

    assert page.status_code == 200
    body = page.content.decode()
    assert body.count("stored secret unreadable — enter it again") == 1
    assert body.count("● secret stored") == 4  # salesforce's three and sendgrid's one
    assert "gAAAAA" not in body


def test_the_edit_form_asks_for_the_unreadable_secret_again(support_user, broken_twilio):
    client = logged_in(support_user)
    edit = "/tenants/acme/integrations/twilio/edit/"

    form = client.get(edit)
    kept_blank = client.post(edit, {"account": "AC1", "password": ""})
    typed = client.post(edit, {"account": "AC1", "password": "typed-again"})

    assert 'placeholder="stored secret unreadable — enter it again"' in form.content.decode()
    assert kept_blank.status_code == 400  # blank cannot mean "keep" for a value that is lost
    assert typed.status_code == 302
    assert Integration.objects.get(pk=broken_twilio.pk).password == "typed-again"


def test_the_admin_pages_of_the_broken_record_render(admin_user, broken_twilio):
    client = logged_in(admin_user)

    for path in (
        f"/admin/integrations/twiliointegration/{broken_twilio.pk}/change/",
        "/admin/integrations/integration/",
        f"/admin/tenants/tenant/{broken_twilio.tenant_id}/change/",
    ):
        response = client.get(path)
        assert response.status_code == 200, path
        assert raw_column(broken_twilio, "password") not in response.content.decode()
