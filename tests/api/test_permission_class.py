"""TokenActsOnTenant on its own: the views check the tenant again behind it (defence in depth,
test_view_tenant_check.py), so through the API a weakened permission class would go unseen.
Here it must refuse by itself: no token, another tenant, a missing scope."""

import pytest
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from integrations.api.permissions import TokenActsOnTenant
from tenants.services import api_token_create
from tests.factories import actor_named

pytestmark = pytest.mark.django_db


class View:
    def __init__(self, tenant: str):
        self.kwargs = {"tenant": tenant, "id": "twilio"}


def request_with(method: str, api_token) -> Request:
    request = Request(getattr(APIRequestFactory(), method)("/"))
    request._authenticator, request._user, request._auth = None, None, api_token
    return request


def test_a_request_without_a_token_is_refused():
    permission = TokenActsOnTenant()

    assert permission.has_permission(request_with("get", None), View("acme")) is False


def test_a_token_of_another_tenant_is_refused_with_its_reason(tenant, other_tenant):
    api_token, _ = api_token_create(actor=actor_named(), label="globex", tenant=other_tenant)
    permission = TokenActsOnTenant()

    assert permission.has_permission(request_with("get", api_token), View("acme")) is False
    assert permission.message == "This token may not act on tenant 'acme'."


@pytest.mark.parametrize(
    ("method", "scopes", "allowed", "missing"),
    [
        ("get", "read", True, None),
        ("head", "read", True, None),
        ("options", "read", True, None),
        ("get", "write,secrets", False, "read"),
        ("post", "write", True, None),
        ("patch", "write", True, None),
        ("delete", "write", True, None),
        ("post", "read,secrets", False, "write"),
        ("delete", "read", False, "write"),
    ],
)
def test_the_method_needs_its_scope(tenant, method, scopes, allowed, missing):
    api_token, _ = api_token_create(actor=actor_named(), label="t", tenant=tenant, scopes=scopes)
    permission = TokenActsOnTenant()

    assert permission.has_permission(request_with(method, api_token), View("acme")) is allowed
    if missing:
        assert permission.message == f"This token lacks the '{missing}' scope."


def test_an_all_tenants_token_may_act_on_any_tenant(tenant):
    api_token, _ = api_token_create(actor=actor_named(), label="all", tenant=None)

    for name in ("acme", "globex", "nobody"):
        assert TokenActsOnTenant().has_permission(request_with("get", api_token), View(name))
