"""API tokens: stored as prefix + SHA-256 digest, scoped, expiring, revocable."""

import hashlib
import time
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from tenants import tokens
from tenants.models import ApiToken
from tenants.services import api_token_create, api_token_revoke, parse_scopes
from tests.factories import actor_named

pytestmark = pytest.mark.django_db


def test_the_plaintext_is_never_stored_only_its_prefix_and_sha256_digest(tenant):
    api_token, plaintext = api_token_create(actor=actor_named("tests"), label="ops", tenant=tenant)

    row = ApiToken.objects.filter(pk=api_token.pk).values().get()
    assert plaintext not in {str(v) for v in row.values()}
    assert row["prefix"] == plaintext[: tokens.PREFIX_LENGTH]
    assert row["digest"] == hashlib.sha256(plaintext.encode()).hexdigest()


def test_a_token_is_opaque_random_and_long():
    generated = {tokens.generate() for _ in range(50)}

    assert len(generated) == 50
    for token in generated:
        assert token.startswith(tokens.PREFIX_MARK)
        # 43 url-safe base64 characters: 256 random bits (the design asks for >= 160).
        assert len(token) - len(tokens.PREFIX_MARK) >= 43


def test_verification_uses_a_constant_time_comparison(monkeypatch):
    calls = []
    real = tokens.hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(tokens.hmac, "compare_digest", spy)
    token = tokens.generate()

    assert tokens.matches(token, tokens.digest_of(token)) is True
    assert tokens.matches(token, tokens.digest_of(token + "x")) is False
    assert len(calls) == 2


def test_verifying_a_token_costs_microseconds_not_a_password_hash():
    token = tokens.generate()
    digest = tokens.digest_of(token)
    started = time.perf_counter()
    for _ in range(1000):
        tokens.matches(token, digest)
    # A password hasher costs ~100 ms per check; a thousand SHA-256 checks take ~1 ms.
    assert time.perf_counter() - started < 0.5


def test_every_scope_by_default(tenant):
    api_token, _ = api_token_create(actor=actor_named("tests"), label="ops", tenant=tenant)

    assert api_token.scopes == "read,write,secrets"
    assert api_token.scope_set == {"read", "write", "secrets"}


def test_a_token_without_a_tenant_is_for_all_tenants(tenant, other_tenant):
    api_token, _ = api_token_create(actor=actor_named("tests"), label="platform", tenant=None)

    assert api_token.all_tenants is True
    assert api_token.may_act_on("acme") and api_token.may_act_on("anything")


def test_a_tenant_token_acts_on_its_tenant_only(tenant):
    api_token, _ = api_token_create(actor=actor_named("tests"), label="ops", tenant=tenant)

    assert api_token.may_act_on("acme")
    assert not api_token.may_act_on("globex")
    assert not api_token.may_act_on("")


@pytest.mark.parametrize(
    "tenant_set,all_tenants", [(True, True), (False, False)], ids=["both", "neither"]
)
def test_the_database_refuses_a_token_for_one_tenant_and_all_or_neither(
    tenant, tenant_set, all_tenants
):
    with pytest.raises(IntegrityError), transaction.atomic():
        ApiToken.objects.create(
            label="bad",
            tenant=tenant if tenant_set else None,
            all_tenants=all_tenants,
            prefix="ir_xxxxxxxxx",
            digest="0" * 64,
        )


@pytest.mark.parametrize(
    "given,stored",
    [
        ("read", ["read"]),
        ("secrets, read", ["read", "secrets"]),
        (" write ,read,,", ["read", "write"]),
        (["write", "write", "secrets"], ["write", "secrets"]),
        ("read,write,secrets", ["read", "write", "secrets"]),
    ],
)
def test_scopes_are_parsed_into_canonical_order(given, stored):
    assert parse_scopes(given) == stored


@pytest.mark.parametrize("given", ["admin", "read,delete", "READ"])
def test_an_unknown_scope_is_refused_by_name(given):
    with pytest.raises(ValidationError) as raised:
        parse_scopes(given)

    message = raised.value.messages[0]
    assert "Unknown scope" in message
    assert "read, write, secrets" in message


@pytest.mark.parametrize("given", ["", " , ", []])
def test_a_token_needs_at_least_one_scope(given):
    with pytest.raises(ValidationError, match="at least one scope"):
        parse_scopes(given)


def test_an_expired_token_is_not_usable(tenant):
    now = timezone.now()
    api_token, _ = api_token_create(
        actor=actor_named("tests"), label="t", tenant=tenant, expires_at=now + timedelta(hours=1)
    )

    assert api_token.is_usable(now)
    assert not api_token.is_usable(now + timedelta(hours=1))
    assert not api_token.is_usable(now + timedelta(hours=2))


def test_a_revoked_token_is_not_usable_and_revoking_twice_keeps_the_first_time(tenant):
    api_token, _ = api_token_create(actor=actor_named("tests"), label="t", tenant=tenant)

    api_token_revoke(api_token=api_token, actor=actor_named("tests"))
    first = ApiToken.objects.get(pk=api_token.pk).revoked_at
    api_token_revoke(api_token=api_token, actor=actor_named("tests"))

    assert first is not None
    assert ApiToken.objects.get(pk=api_token.pk).revoked_at == first
    assert not api_token.is_usable()
