"""Defence in depth: the views check the token's tenant themselves, behind the permission class.

Each view is called with its permission classes swapped for AllowAny (as a careless change
would leave it): a token of acme still never reads, changes or deletes globex's records.
"""

import json

import pytest
from rest_framework.permissions import AllowAny
from rest_framework.test import APIRequestFactory

from integrations.api.history_views import (
    IntegrationHistoryView,
    IntegrationVersionRestoreView,
    IntegrationVersionsView,
)
from integrations.api.views import IntegrationListView, IntegrationView
from integrations.models import Integration
from tenants.models import AuditEvent
from tenants.services import api_token_create
from tests.factories import TwilioFactory, actor_named

pytestmark = pytest.mark.django_db

FORBIDDEN = {"error": "This token may not act on tenant 'globex'."}


@pytest.fixture
def acme_token(tenant):
    return api_token_create(actor=actor_named(), label="acme ops", tenant=tenant)[1]


@pytest.fixture
def globex_twilio(other_tenant):
    return TwilioFactory(tenant=other_tenant, account="AC-GLOBEX", password="globex-pw")


def call(view_class, method: str, token: str | None, path: str, body=None, **kwargs):
    """Call the view as Django would, with its permission classes swapped for AllowAny."""
    factory = APIRequestFactory()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    data = json.dumps(body) if body is not None else None
    request = getattr(factory, method)(path, data, content_type="application/json", **headers)
    view = view_class.as_view(permission_classes=[AllowAny])
    response = view(request, **kwargs)
    response.render()
    return response


def assert_untouched(integration):
    stored = Integration.all_objects.get(pk=integration.pk)
    assert (stored.account, stored.password, stored.deleted_at) == ("AC-GLOBEX", "globex-pw", None)
    assert stored.version == integration.version
    assert not AuditEvent.objects.filter(tenant=integration.tenant).exists()


@pytest.mark.parametrize(
    ("view_class", "method", "suffix", "kwargs", "body"),
    [
        (IntegrationView, "get", "integrations/twilio", {"id": "twilio"}, None),
        (IntegrationView, "patch", "integrations/twilio", {"id": "twilio"}, {"account": "X"}),
        (
            IntegrationView,
            "post",
            "integrations/twilio",
            {"id": "twilio"},
            {"account": "X", "password": "stolen"},
        ),
        (IntegrationView, "delete", "integrations/twilio", {"id": "twilio"}, None),
        (IntegrationListView, "get", "integrations", {}, None),
        (IntegrationHistoryView, "get", "integrations/twilio/history", {"id": "twilio"}, None),
        (IntegrationVersionsView, "get", "integrations/twilio/versions", {"id": "twilio"}, None),
        (
            IntegrationVersionRestoreView,
            "post",
            "integrations/twilio/versions/1/restore",
            {"id": "twilio", "number": 1},
            None,
        ),
    ],
    ids=["get", "patch", "post", "delete", "list", "history", "versions", "restore"],
)
def test_without_its_permission_class_a_view_still_refuses_another_tenants_token(
    acme_token, globex_twilio, view_class, method, suffix, kwargs, body
):
    response = call(
        view_class,
        method,
        acme_token,
        f"/1.0/tenants/globex/{suffix}",
        body,
        tenant="globex",
        **kwargs,
    )

    assert response.status_code == 403, response.content
    assert json.loads(response.content) == FORBIDDEN
    assert "AC-GLOBEX" not in response.content.decode()
    assert_untouched(globex_twilio)


def test_without_its_permission_class_a_view_refuses_a_request_without_a_token(
    globex_twilio,
):
    response = call(
        IntegrationView,
        "get",
        None,
        "/1.0/tenants/globex/integrations/twilio",
        tenant="globex",
        id="twilio",
    )

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert "AC-GLOBEX" not in response.content.decode()


def test_without_its_permission_class_a_view_still_serves_the_tokens_own_tenant(
    acme_token, tenant, globex_twilio
):
    TwilioFactory(tenant=tenant, account="AC-ACME", password="acme-pw")

    response = call(
        IntegrationView,
        "get",
        acme_token,
        "/1.0/tenants/acme/integrations/twilio",
        tenant="acme",
        id="twilio",
    )

    assert response.status_code == 200
    assert json.loads(response.content)["account"] == "AC-ACME"
