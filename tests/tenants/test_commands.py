"""`createtenant` and `createapitoken`: what an operator types, what they get back."""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework.test import APIClient

from integrations.models import Integration
from tenants import tokens
from tenants.models import ApiToken, Tenant
from tenants.services import tenant_delete
from tests.factories import TenantFactory, actor_named, token_actor_name

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def last_line(output: str) -> str:
    return output.rstrip("\n").split("\n")[-1]


# --- createtenant ----------------------------------------------------------------------------


def test_createtenant_creates_a_tenant_with_a_display_name():
    output = run("createtenant", "acme", "--display-name", "Acme Corp")

    tenant = Tenant.objects.get(name="acme")
    assert tenant.display_name == "Acme Corp"
    assert "acme" in output


def test_createtenant_without_a_display_name():
    run("createtenant", "acme")

    assert Tenant.objects.get(name="acme").display_name == ""


def test_createtenant_refuses_a_duplicate_name():
    run("createtenant", "acme")

    with pytest.raises(CommandError):
        run("createtenant", "acme")

    assert Tenant.all_objects.filter(name="acme").count() == 1


def test_createtenant_refuses_the_name_of_a_deleted_tenant():
    tenant_delete(tenant=TenantFactory(name="acme"), actor=actor_named())

    with pytest.raises(CommandError, match="deleted"):
        run("createtenant", "acme")

    assert Tenant.all_objects.filter(name="acme").count() == 1


@pytest.mark.parametrize("name", ["Acme Corp", "acme/corp", "ac me", ""])
def test_createtenant_refuses_a_name_that_is_not_a_slug(name):
    with pytest.raises(CommandError):
        run("createtenant", name)

    assert not Tenant.all_objects.exists()


# --- createapitoken --------------------------------------------------------------------------


def test_createapitoken_prints_the_token_alone_on_the_last_line(tenant):
    output = run("createapitoken", "--tenant", "acme")

    token = last_line(output)
    assert token.startswith(tokens.PREFIX_MARK)
    assert " " not in token
    api_token = ApiToken.objects.get()
    assert api_token.prefix == token[: tokens.PREFIX_LENGTH]
    assert api_token.digest == tokens.digest_of(token)
    assert api_token.tenant == tenant and not api_token.all_tenants
    assert api_token.scopes == "read,write,secrets"
    assert api_token.expires_at is None
    assert output.count(token) == 1


def test_the_printed_token_authenticates_a_real_request(tenant):
    token = last_line(run("createapitoken", "--tenant", "acme"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    response = client.post(
        "/1.0/tenants/acme/integrations/twilio",
        json.dumps({"account": "SID", "password": "Token"}),
        content_type="application/json",
    )

    assert response.status_code == 201
    assert Integration.objects.get(tenant=tenant).updated_by == token_actor_name("acme token")


def test_createapitoken_for_all_tenants(tenant, other_tenant):
    token = last_line(run("createapitoken", "--all-tenants", "--label", "platform"))

    api_token = ApiToken.objects.get()
    assert api_token.all_tenants and api_token.tenant is None
    assert api_token.label == "platform"
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    for name in ("acme", "globex"):
        response = client.post(
            f"/1.0/tenants/{name}/twilio",
            json.dumps({"account": "SID", "password": "Token"}),
            content_type="application/json",
        )
        assert response.status_code == 201


def test_createapitoken_with_scopes(tenant):
    token = last_line(run("createapitoken", "--tenant", "acme", "--scopes", "read"))

    assert ApiToken.objects.get().scopes == "read"
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    response = client.post(
        "/1.0/tenants/acme/twilio",
        json.dumps({"account": "SID", "password": "Token"}),
        content_type="application/json",
    )
    assert response.status_code == 403


def test_createapitoken_with_an_expiry(tenant):
    run("createapitoken", "--tenant", "acme", "--expires-days", "7")

    expires_at = ApiToken.objects.get().expires_at
    assert abs(expires_at - (timezone.now() + timedelta(days=7))) < timedelta(minutes=1)


@pytest.mark.parametrize(
    "args,message",
    [
        ([], "one of the arguments --tenant --all-tenants is required"),
        (["--tenant", "acme", "--all-tenants"], "not allowed with"),
        (["--tenant", "nobody"], "No live tenant"),
        (["--tenant", "acme", "--scopes", "admin"], "Unknown scope"),
        (["--tenant", "acme", "--scopes", ""], "at least one scope"),
        (["--tenant", "acme", "--expires-days", "0"], "positive"),
        (["--tenant", "acme", "--expires-days", "-3"], "positive"),
    ],
)
def test_createapitoken_refuses_bad_arguments(tenant, args, message):
    with pytest.raises(CommandError, match=message):
        run("createapitoken", *args)

    assert not ApiToken.objects.exists()


def test_createapitoken_refuses_a_deleted_tenant(tenant):
    tenant_delete(tenant=tenant, actor=actor_named())

    with pytest.raises(CommandError, match="No live tenant"):
        run("createapitoken", "--tenant", "acme")
