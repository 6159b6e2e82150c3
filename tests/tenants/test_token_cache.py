"""API tokens remembered per process (tenants/token_cache.py): no query for a remembered token,
and every change to a token or a tenant's name seen by the first request after its commit."""

import threading
import time
from datetime import timedelta

import pytest
import redis
from django.core.cache import caches
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from config.redis_cache import RedisCache
from tenants import token_cache
from tenants.models import ApiToken, AuditEvent, Tenant
from tenants.services import api_token_create, api_token_revoke
from tests.api.test_hot_path_attack_3 import use_redis
from tests.api.test_rate_limits import bearer
from tests.factories import TenantFactory, actor_named

pytestmark = [pytest.mark.django_db, pytest.mark.redis]

LIST = "/1.0/tenants/acme/integrations"


def remembering_store(settings, location: str) -> RedisCache:
    """The config's RedisCache at `location` (emptied), the shared store that tokens are
    remembered with (for 15 s), the limits set so high that no test reaches them."""
    cache = use_redis(settings, location)
    cache.clear()
    settings.API_AUTH_FAILURE_RATE = "30/min"
    settings.API_TOKEN_RATE = "1000/min"
    settings.TRUSTED_PROXY_COUNT = 0
    settings.API_TOKEN_CACHE_SECONDS = 15
    return cache


@pytest.fixture
def store(settings, redis_url):
    """The config's RedisCache on database 5 of the test Redis (emptied), tokens remembered;
    its raw client."""
    cache = remembering_store(settings, f"{redis_url}/5")
    yield cache.client()
    cache.clear()


@pytest.fixture
def token(tenant):
    """(ApiToken, plaintext) of tenant acme, every scope."""
    return api_token_create(actor=actor_named("tests"), label="ops", tenant=tenant)


@pytest.fixture
def clock(monkeypatch):
    """The cache's clock (seconds, monotonic), moved by hand."""
    now = [1000.0]
    monkeypatch.setattr(token_cache.tokens, "_clock", lambda: now[0])
    return now


def token_queries(captured) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if '"tenants_apitoken"' in q["sql"]]


def get(plaintext: str, path: str = LIST):
    """(status, token SELECTs made) of one GET with `plaintext`."""
    with CaptureQueriesContext(connection) as captured:
        status = bearer(plaintext).get(path).status_code
    return status, [sql for sql in token_queries(captured) if sql.lstrip().startswith("SELECT")]


def assert_read_every_time(plaintext: str) -> None:
    for _ in range(3):
        status, queries = get(plaintext)
        assert (status, len(queries)) == (200, 1)


def remembered(plaintext: str) -> None:
    """Presents `plaintext` until the process remembers it under the store's generation (the
    first request of an emptied store writes the generation: its token stays unconfirmed)."""
    for _ in range(3):
        bearer(plaintext).get(LIST)
        if get(plaintext)[1] == []:
            return
    raise AssertionError("the token was never remembered")


def committed(change):
    """Runs `change()` as its own committed transaction would (the test's transaction stays
    open: its on_commit callbacks run at its end)."""
    with transaction.atomic():
        result = change()
    return result


def generation_key() -> str:
    """The generation's key in the store, as the cache names it."""
    return caches["default"].make_and_validate_key(token_cache.GENERATION_KEY)


def another_process_changed_a_token(store) -> None:
    """What another process's commit of a token change does to the store."""
    store.set(generation_key(), 424242)


# --- remembered ----------------------------------------------------------------------------


def test_a_right_token_costs_one_query_then_none(store, token):
    _, plaintext = token
    status, queries = get(plaintext)
    assert status == 200
    assert len(queries) == 1

    remembered(plaintext)
    for _ in range(3):
        assert get(plaintext) == (200, [])


def test_a_wrong_secret_and_an_unknown_prefix_are_remembered_as_refused(store, token):
    _, plaintext = token
    wrong = plaintext[:12] + ("A" if plaintext[12] != "A" else "B") + plaintext[13:]
    unknown = "ir_" + "Z" * 40
    remembered(plaintext)
    for presented in (wrong, unknown):
        bearer(presented).get(LIST)
        assert get(presented) == (401, [])
    assert get(plaintext) == (200, [])


def test_with_the_memory_cache_nothing_is_remembered(settings, token):
    # Each process has its own memory cache: a change made in another would never be seen.
    settings.API_TOKEN_RATE = "1000/min"
    _, plaintext = token
    assert_read_every_time(plaintext)


def test_with_zero_seconds_nothing_is_remembered(store, settings, token):
    settings.API_TOKEN_CACHE_SECONDS = 0
    _, plaintext = token
    assert_read_every_time(plaintext)


def test_each_request_gets_its_own_copy(store, token):
    api_token, plaintext = token
    remembered(plaintext)
    first = token_cache.tokens.find(api_token.prefix).token
    first.label = "changed by a view"
    first.scopes = "read"
    again = token_cache.tokens.find(api_token.prefix).token
    assert again is not first
    assert (again.label, again.scopes) == ("ops", "read,write,secrets")


def test_last_used_is_written_once_within_its_precision(store, token):
    api_token, plaintext = token
    remembered(plaintext)
    with CaptureQueriesContext(connection) as captured:
        for _ in range(3):
            assert bearer(plaintext).get(LIST).status_code == 200
    assert token_queries(captured) == []
    assert ApiToken.objects.get(pk=api_token.pk).last_used_at is not None


# --- changes are seen ------------------------------------------------------------------------


def test_a_revoked_token_is_refused_from_the_next_request(
    store, token, django_capture_on_commit_callbacks
):
    api_token, plaintext = token
    remembered(plaintext)
    with django_capture_on_commit_callbacks(execute=True):
        api_token_revoke(api_token=api_token, actor=actor_named("tests"))
    assert get(plaintext)[0] == 401


def test_a_revocation_by_another_process_is_seen_through_the_store(store, token):
    api_token, plaintext = token
    remembered(plaintext)
    # Another process revoked it: its row, then the store's generation; nothing of this one's.
    ApiToken.objects.filter(pk=api_token.pk).update(revoked_at=timezone.now())
    assert get(plaintext)[0] == 200  # the store still says nothing changed
    another_process_changed_a_token(store)
    status, queries = get(plaintext)
    assert (status, len(queries)) == (401, 1)


def test_a_change_the_store_missed_is_seen_after_the_cache_seconds(store, token, clock):
    """The bound when writing the generation failed, or a row was changed by hand."""
    api_token, plaintext = token
    remembered(plaintext)
    ApiToken.objects.filter(pk=api_token.pk).update(revoked_at=timezone.now())
    clock[0] += 14.9
    assert get(plaintext)[0] == 200
    clock[0] += 0.2
    assert get(plaintext)[0] == 401


def test_a_deleted_token_is_refused(store, token, django_capture_on_commit_callbacks):
    api_token, plaintext = token
    remembered(plaintext)
    with django_capture_on_commit_callbacks(execute=True):
        ApiToken.objects.filter(pk=api_token.pk).delete()
    assert get(plaintext)[0] == 401


def test_a_token_deleted_with_its_tenant_is_refused(
    store, token, django_capture_on_commit_callbacks
):
    api_token, plaintext = token
    remembered(plaintext)
    AuditEvent.objects.filter(tenant=api_token.tenant).delete()  # they protect their tenant
    with django_capture_on_commit_callbacks(execute=True):
        api_token.tenant.delete()  # the cascade sends each token's post_delete
    assert get(plaintext)[0] == 401


def test_a_renamed_tenant_is_seen_and_its_old_name_given_to_another(
    store, token, django_capture_on_commit_callbacks
):
    """The token may act on its tenant by name: a remembered name that another tenant takes
    would open that tenant to it."""
    api_token, plaintext = token
    remembered(plaintext)
    with django_capture_on_commit_callbacks(execute=True):
        tenant = Tenant.objects.get(pk=api_token.tenant_id)
        tenant.name = "acme-old"
        tenant.save()  # as the admin's change page saves it
    TenantFactory(name="acme")

    assert get(plaintext)[0] == 403
    assert get(plaintext, "/1.0/tenants/acme-old/integrations")[0] == 200


def test_an_expiry_extended_by_the_admin_is_seen(store, token, django_capture_on_commit_callbacks):
    api_token, plaintext = token
    ApiToken.objects.filter(pk=api_token.pk).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    for _ in range(2):
        assert get(plaintext)[0] == 401
    assert get(plaintext) == (401, [])  # remembered as expired

    with django_capture_on_commit_callbacks(execute=True):
        row = ApiToken.objects.get(pk=api_token.pk)
        row.expires_at = timezone.now() + timedelta(days=1)
        row.save(update_fields=["label", "expires_at"])  # as the admin saves it
    status, queries = get(plaintext)
    assert (status, len(queries)) == (200, 1)


def test_a_token_that_expires_while_remembered_is_refused(store, token):
    api_token, plaintext = token
    soon = timezone.now() + timedelta(seconds=1)
    ApiToken.objects.filter(pk=api_token.pk).update(expires_at=soon)
    remembered(plaintext)
    time.sleep(max(0.0, (soon - timezone.now()).total_seconds()) + 0.05)
    assert get(plaintext) == (401, [])


def test_a_tenant_saved_without_its_name_keeps_tokens_remembered(store, token):
    api_token, plaintext = token
    remembered(plaintext)
    generation = store.get(generation_key())
    with transaction.atomic():
        tenant = Tenant.objects.get(pk=api_token.tenant_id)
        tenant.display_name = "Acme Inc"
        tenant.save(update_fields=["display_name"])
        TenantFactory(name="initech")  # a new tenant: no token of it is remembered
    assert store.get(generation_key()) == generation


# --- the store fails --------------------------------------------------------------------------


def test_an_emptied_store_is_never_trusted_and_gets_a_new_generation(store, token):
    _, plaintext = token
    remembered(plaintext)
    store.flushdb()
    status, queries = get(plaintext)
    assert (status, len(queries)) == (200, 1)  # generation gone: read again
    key = generation_key()
    assert int(store.get(key)) > 0
    assert store.ttl(key) == -1  # never expires
    remembered(plaintext)


def test_a_store_that_is_down_means_the_database_every_time(settings, token):
    use_redis(settings, "redis://127.0.0.1:9/0")
    settings.API_TOKEN_RATE = "1000/min"
    _, plaintext = token
    assert_read_every_time(plaintext)


def test_a_store_that_refuses_writes_means_the_database(store, token, monkeypatch):
    """Out of memory or a read-only replica: it may have missed a change's generation."""
    _, plaintext = token
    remembered(plaintext)

    def refuses(*args, **kwargs):
        raise redis.ResponseError("OOM command not allowed when used memory > 'maxmemory'.")

    monkeypatch.setattr(RedisCache, "run_script", refuses)
    for _ in range(2):
        status, queries = get(plaintext)
        assert (status, len(queries)) == (200, 1)


def test_a_generation_that_cannot_be_written_is_logged_and_the_process_forgets(
    store, token, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    api_token, plaintext = token
    remembered(plaintext)

    def fails(*args, **kwargs):
        raise redis.ConnectionError("Connection refused")

    monkeypatch.setattr(RedisCache, "set", fails)
    with django_capture_on_commit_callbacks(execute=True):
        api_token_revoke(api_token=api_token, actor=actor_named("tests"))
    assert "Could not write the API tokens' generation" in caplog.text
    assert plaintext not in caplog.text
    monkeypatch.undo()
    assert get(plaintext)[0] == 401  # this process forgot; others wait API_TOKEN_CACHE_SECONDS


def test_a_failed_transaction_changes_no_generation(store, token):
    api_token, plaintext = token
    remembered(plaintext)
    key = generation_key()
    generation = store.get(key)
    with pytest.raises(RuntimeError), transaction.atomic():
        api_token_revoke(api_token=api_token, actor=actor_named("tests"))
        raise RuntimeError("rolled back")
    assert store.get(key) == generation
    assert get(plaintext) == (200, [])


# --- bounded ---------------------------------------------------------------------------------


def test_at_most_max_tokens_are_remembered_the_least_recently_used_first_forgotten(store, tenant):
    cache = token_cache.TokenCache(max_tokens=2)
    made = [
        api_token_create(actor=actor_named("tests"), label=f"t{n}", tenant=tenant)[0]
        for n in range(3)
    ]
    for api_token in made:
        cache.find(api_token.prefix)
    cache.find(made[1].prefix)  # the most recent now
    assert [cache.find(t.prefix).remembered for t in (made[1], made[2])] == [True, True]
    assert cache.find(made[0].prefix).remembered is False


# --- threads ---------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_no_request_that_starts_after_a_revocation_commits_is_let_in(store, tenant):
    """Threads authenticate a remembered token in a loop while the main thread revokes it:
    every request that started after the revocation's commit (and its generation) returned
    is refused."""
    api_token, plaintext = api_token_create(actor=actor_named("tests"), label="ops", tenant=tenant)
    remembered(plaintext)
    revoked_at: list[float] = []
    results: list[tuple[float, int]] = []
    stop = threading.Event()
    lock = threading.Lock()

    def authenticate_in_a_loop():
        try:
            while not stop.is_set():
                started = time.monotonic()
                status = bearer(plaintext).get(LIST).status_code
                with lock:
                    results.append((started, status))
        finally:
            connection.close()

    threads = [threading.Thread(target=authenticate_in_a_loop) for _ in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    api_token_revoke(api_token=api_token, actor=actor_named("tests"))  # autocommit: committed
    revoked_at.append(time.monotonic())
    time.sleep(0.5)
    stop.set()
    for thread in threads:
        thread.join()

    before = [status for started, status in results if started < revoked_at[0]]
    after = [status for started, status in results if started > revoked_at[0]]
    assert before and after
    assert set(before) <= {200, 401, 429}
    # Refused: 401, or 429 once the refusals put the address over API_AUTH_FAILURE_RATE.
    assert set(after) <= {401, 429}, sorted(set(after))
    assert 401 in after
