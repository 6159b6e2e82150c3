"""Bearer authentication: the token's row, its usability, and a throttled last_used_at."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from tenants.authentication import LAST_USED_PRECISION, BearerTokenAuthentication
from tenants.models import ApiToken
from tenants.services import api_token_create, api_token_revoke
from tests.factories import actor_named

pytestmark = pytest.mark.django_db


def authenticate(rf, header: str):
    return BearerTokenAuthentication().authenticate(Request(rf.get("/", HTTP_AUTHORIZATION=header)))


def last_used(api_token):
    return ApiToken.objects.get(pk=api_token.pk).last_used_at


def test_a_valid_token_authenticates_as_itself(rf, tenant):
    api_token, plaintext = api_token_create(actor=actor_named("tests"), label="ops", tenant=tenant)

    user, auth = authenticate(rf, f"Bearer {plaintext}")

    assert auth.pk == api_token.pk
    assert auth.tenant == tenant
    assert str(user) == "token:ops"
    assert user.is_authenticated


def test_another_scheme_is_left_to_other_authenticators(rf):
    assert authenticate(rf, "Basic YWxhZGRpbjpvcGVuc2VzYW1l") is None


def test_the_first_use_sets_last_used_at(rf, tenant):
    api_token, plaintext = api_token_create(actor=actor_named("tests"), label="ops", tenant=tenant)
    assert last_used(api_token) is None

    authenticate(rf, f"Bearer {plaintext}")

    assert timezone.now() - last_used(api_token) < timedelta(seconds=5)


def test_last_used_at_is_written_at_most_once_a_minute(rf, tenant, django_assert_num_queries):
    api_token, plaintext = api_token_create(actor=actor_named("tests"), label="ops", tenant=tenant)
    recent = timezone.now() - timedelta(seconds=10)
    ApiToken.objects.filter(pk=api_token.pk).update(last_used_at=recent)

    with django_assert_num_queries(1):  # the lookup only, no UPDATE
        authenticate(rf, f"Bearer {plaintext}")

    assert last_used(api_token) == recent


def test_a_stale_last_used_at_is_refreshed(rf, tenant, django_assert_num_queries):
    api_token, plaintext = api_token_create(actor=actor_named("tests"), label="ops", tenant=tenant)
    stale = timezone.now() - LAST_USED_PRECISION - timedelta(seconds=1)
    ApiToken.objects.filter(pk=api_token.pk).update(last_used_at=stale)

    with django_assert_num_queries(2):  # the lookup and one UPDATE
        authenticate(rf, f"Bearer {plaintext}")

    assert last_used(api_token) > stale


@pytest.mark.parametrize("state", ["revoked", "expired", "wrong-secret"])
def test_an_unusable_token_fails_and_is_not_marked_used(rf, tenant, state):
    expires = timezone.now() - timedelta(seconds=1) if state == "expired" else None
    api_token, plaintext = api_token_create(
        actor=actor_named("tests"), label="t", tenant=tenant, expires_at=expires
    )
    if state == "revoked":
        api_token_revoke(api_token=api_token, actor=actor_named("tests"))
    if state == "wrong-secret":
        plaintext = plaintext[:-1] + ("A" if plaintext[-1] != "A" else "B")

    with pytest.raises(AuthenticationFailed):
        authenticate(rf, f"Bearer {plaintext}")

    assert last_used(api_token) is None


def test_the_header_is_read_as_given_as_bytes_too(rf, tenant):
    """A test client (or a server outside PEP 3333) may give the header as bytes: read as
    latin-1, as DRF's get_authorization_header read it."""
    api_token, plaintext = api_token_create(actor=actor_named("tests"), label="ops", tenant=tenant)
    request = Request(rf.get("/", HTTP_AUTHORIZATION=f"Bearer {plaintext}".encode("latin-1")))

    user, auth = BearerTokenAuthentication().authenticate(request)

    assert auth.pk == api_token.pk
    assert str(user) == "token:ops"


@pytest.mark.parametrize("header", ["Bearer tök€n", "Bearer \udcff", "Bearer a\x00b"])
def test_a_header_of_characters_no_token_has_is_refused_not_a_crash(rf, header):
    with pytest.raises(AuthenticationFailed):
        authenticate(rf, header)


def test_no_header_and_an_empty_one_leave_it_to_other_authenticators(rf):
    assert BearerTokenAuthentication().authenticate(Request(rf.get("/"))) is None
    assert authenticate(rf, "") is None
