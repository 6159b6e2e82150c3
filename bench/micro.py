"""Micro-benchmarks, in-process on the app's settings (Django set up, benchmark database):
the API token check and the secret field encryption, timed with timeit (microseconds each)."""

import time
import timeit
from unittest import mock

REPEAT = 3


def _best_us(statement, number: int, timer=time.perf_counter) -> float:
    """The best of REPEAT runs of `number` calls, per call, in µs (the least disturbed run)."""
    return min(timeit.repeat(statement, number=number, repeat=REPEAT, timer=timer)) / number * 1e6


def token_check(plaintext: str, *, number: int, with_query: int) -> dict[str, float]:
    """`number` calls of the pure check (hash, compare) and of a remembered token's check
    (found in the process's cache, then the pure check); `with_query` of the whole
    authentication (its query included) and of that query alone."""
    from django.db import connection
    from django.test import RequestFactory

    from tenants import token_cache, tokens
    from tenants.authentication import BearerTokenAuthentication, presented_is_usable
    from tenants.models import ApiToken

    digest = tokens.digest_of(plaintext)

    def check() -> bool:
        return (
            tokens.well_formed(plaintext)
            and tokens.prefix_of(plaintext) != ""
            and tokens.matches(plaintext, digest)
        )

    request = RequestFactory().get("/1.0/", HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    authentication = BearerTokenAuthentication()
    queryset = ApiToken.objects.select_related("tenant").filter(prefix=tokens.prefix_of(plaintext))
    query, params = queryset.query.sql_with_params()

    def raw_query() -> None:
        with connection.cursor() as cursor:
            cursor.execute(query + " LIMIT 1", params)
            cursor.fetchall()

    assert authentication.authenticate(request) is not None  # noqa: S101 (a bench sanity check)

    def authenticate() -> None:
        authentication.authenticate(request)

    # A token the process remembers (tenants/token_cache.py; with Redis, as the servers run):
    # found and checked, with no query (the store's round trip that confirms it is the rate
    # limits', measured with them in the servers' figures). Here, on the per-process cache,
    # the cache is switched on for this one instance.
    remembered = token_cache.TokenCache()
    prefix = tokens.prefix_of(plaintext)

    def remembered_check() -> bool:
        return presented_is_usable(remembered.find(prefix).token, plaintext)

    cpu = time.process_time  # this process's CPU only: the database's work is not in it
    with mock.patch.object(token_cache, "enabled", return_value=True):
        remembered.find(prefix)  # read once, remembered from then on
        remembered_cpu_us = _best_us(remembered_check, number, cpu)
    authenticate_us = _best_us(authenticate, with_query)
    query_us = _best_us(raw_query, with_query)
    authenticate_cpu_us = _best_us(authenticate, with_query, cpu)
    query_cpu_us = _best_us(raw_query, with_query, cpu)
    return {
        "token_hash_check_us": _best_us(check, number),
        "token_authenticate_us": authenticate_us,
        "token_query_alone_us": query_us,
        "token_beyond_query_us": authenticate_us - query_us,
        "token_authenticate_cpu_us": authenticate_cpu_us,
        "token_beyond_query_cpu_us": authenticate_cpu_us - query_cpu_us,
        "token_remembered_check_cpu_us": remembered_cpu_us,
    }


def encryption(*, number: int) -> dict[str, float]:
    from integrations import encryption

    plaintext = "s3cr3t-" + "x" * 33  # 40 characters, a typical token or password
    ciphertext = encryption.encrypt(plaintext)
    return {
        "encrypt_us": _best_us(lambda: encryption.encrypt(plaintext), number),
        "decrypt_us": _best_us(lambda: encryption.decrypt(ciphertext), number),
    }
