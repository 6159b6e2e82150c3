"""A secret's form input keeps the model field's max length (staff pages and the admin alike):
the browser is told the limit, and a longer value is a form error that stores nothing."""

import pytest
from django import forms

from integrations.fields import SecretField, SecretFormField
from integrations.models import Integration
from integrations.providers import all_providers
from tests.factories import TwilioFactory

SECRET_FIELDS = [
    pytest.param(provider, field, id=f"{provider.provider_key}.{field.name}")
    for provider in all_providers()
    for field in provider.credential_fields()
    if isinstance(field, SecretField)
]


@pytest.mark.parametrize(("provider", "field"), SECRET_FIELDS)
def test_every_secret_input_keeps_the_model_fields_max_length(provider, field):
    form_field = field.formfield()

    assert isinstance(form_field, SecretFormField)
    assert field.max_length
    assert form_field.max_length == field.max_length
    assert form_field.widget.attrs["maxlength"] == str(field.max_length)
    assert f'maxlength="{field.max_length}"' in form_field.widget.render("x", "")


@pytest.mark.parametrize(("provider", "field"), SECRET_FIELDS)
def test_a_secret_one_character_too_long_is_a_form_error(provider, field):
    form_field = field.formfield()

    form_field.clean("s" * field.max_length)  # the limit itself is fine
    with pytest.raises(forms.ValidationError) as refused:
        form_field.clean("s" * (field.max_length + 1))

    assert [e.code for e in refused.value.error_list] == ["max_length"]


@pytest.mark.django_db
def test_the_staff_edit_page_refuses_a_secret_over_its_max_length(admin_client, tenant):
    twilio = TwilioFactory(tenant=tenant, password="kept-secret")
    limit = type(twilio)._meta.get_field("password").max_length

    page = admin_client.get("/tenants/acme/integrations/twilio/edit/").content.decode()
    response = admin_client.post(
        "/tenants/acme/integrations/twilio/edit/",
        {"account": "AC-NEW", "password": "s" * (limit + 1)},
    )

    assert f'maxlength="{limit}"' in page
    assert response.status_code == 400  # the form again, with its error
    assert f"at most {limit} characters" in response.content.decode()
    stored = Integration.objects.get(pk=twilio.pk)
    assert (stored.account, stored.password) == (twilio.account, "kept-secret")
