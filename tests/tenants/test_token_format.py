"""The token's exact format, what reaches the database from an Authorization header, and the
one-minute precision of last_used_at, pinned down to their documented values."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from tenants import authentication, tokens
from tenants.authentication import BearerTokenAuthentication, TokenUser
from tenants.models import ApiToken
from tenants.services import api_token_create
from tests.factories import actor_named


def test_a_token_is_the_mark_and_43_url_safe_characters_256_random_bits():
    for token in (tokens.generate() for _ in range(20)):
        assert token.startswith("ir_")
        assert len(token) == len("ir_") + 43
        assert tokens.well_formed(token)


def test_the_stored_prefix_is_the_first_twelve_characters():
    token = tokens.generate()

    assert tokens.PREFIX_LENGTH == 12
    assert tokens.prefix_of(token) == token[:12]
    assert ApiToken._meta.get_field("prefix").max_length == 12


@pytest.mark.parametrize(
    "presented",
    [
        "ir_abc\x00def",
        "ir_abc def",
        "ir_abc/def",
        "abcdefghijkl",  # url-safe, but without the mark
        "IR_abcdefghijkl",
        "ir_" + "a" * 126,
    ],
    ids=["nul", "space", "slash", "no-mark", "upper-mark", "too-long"],
)
def test_a_string_that_cannot_be_a_token_is_not_well_formed(presented):
    assert not tokens.well_formed(presented)


@pytest.mark.django_db
@pytest.mark.parametrize("presented", ["ir_abc\x00def", "abcdefghijklmnop", "ir_" + "a" * 200])
def test_a_malformed_token_is_refused_without_a_database_query(
    rf, presented, django_assert_num_queries
):
    request = Request(rf.get("/", HTTP_AUTHORIZATION=f"Bearer {presented}"))

    with django_assert_num_queries(0), pytest.raises(AuthenticationFailed):
        BearerTokenAuthentication().authenticate(request)


@pytest.mark.django_db
def test_the_caller_of_an_api_request_is_authenticated_and_never_anonymous(tenant):
    api_token, _ = api_token_create(actor=actor_named(), label="ops", tenant=tenant)
    user = TokenUser(api_token)

    assert user.is_authenticated is True
    assert user.is_anonymous is False


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("age", "written"),
    [
        (timedelta(seconds=59), False),
        (timedelta(minutes=1), False),  # exactly a minute: not yet
        (timedelta(seconds=61), True),
        (timedelta(seconds=119), True),
    ],
)
def test_last_used_at_is_written_when_it_is_more_than_a_minute_old(
    rf, tenant, monkeypatch, age, written
):
    now = timezone.now()
    monkeypatch.setattr(authentication.timezone, "now", lambda: now)
    api_token, plaintext = api_token_create(actor=actor_named(), label="ops", tenant=tenant)
    ApiToken.objects.filter(pk=api_token.pk).update(last_used_at=now - age)

    BearerTokenAuthentication().authenticate(
        Request(rf.get("/", HTTP_AUTHORIZATION=f"Bearer {plaintext}"))
    )

    stored = ApiToken.objects.get(pk=api_token.pk).last_used_at
    assert stored == (now if written else now - age)


@pytest.mark.django_db
def test_a_token_is_unusable_from_the_instant_it_expires(tenant):
    expires = timezone.now() + timedelta(hours=1)
    api_token, _ = api_token_create(
        actor=actor_named(), label="ops", tenant=tenant, expires_at=expires
    )

    assert api_token.is_usable(expires - timedelta(microseconds=1)) is True
    assert api_token.is_usable(expires) is False
    assert api_token.is_usable(expires + timedelta(seconds=1)) is False
