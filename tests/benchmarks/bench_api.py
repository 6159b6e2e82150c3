"""Benchmark the API in-process (Django's test client, no network): `make bench`.

Runs against a throw-away SQLite file (or DATABASE_URL if set) and prints, per operation,
the median and 95th percentile latency and the SQL statement count of one request.
Timings are measured here, never asserted in tests; query counts are asserted in tests.
"""

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DATABASE_URL", f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3")

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

from tenants import tokens  # noqa: E402
from tenants.services import api_token_create, tenant_create  # noqa: E402
from tests.factories import actor_named  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "300"))
JSON = "application/json"


def measure(name: str, request, rounds: int = ROUNDS) -> None:
    request()  # warm up
    statements = []
    with connection.execute_wrapper(
        lambda execute, sql, *args: statements.append(sql) or execute(sql, *args)
    ):
        request()
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        response = request()
        samples.append((time.perf_counter() - start) * 1000)
    assert response.status_code < 300, (name, response.status_code, response.content[:200])
    samples.sort()
    p95 = samples[int(len(samples) * 0.95) - 1]
    print(
        f"{name:<34} median {statistics.median(samples):6.2f} ms   p95 {p95:6.2f} ms   "
        f"{len(statements):2d} SQL statements"
    )


def main() -> None:
    call_command("migrate", verbosity=0)
    tenant = tenant_create(name=f"bench-{int(time.time())}")
    _, token = api_token_create(actor=actor_named("tests"), label="bench", tenant=tenant)
    client = Client(HTTP_HOST="127.0.0.1", headers={"Authorization": f"Bearer {token}"})
    base = f"/1.0/tenants/{tenant.name}/integrations"
    print(f"{connection.vendor}, {ROUNDS} rounds per operation\n")

    counter = iter(range(10**9))
    body = '{"type": "twilio", "account": "AC1", "password": "token"}'
    measure(
        "POST create (new id each time)",
        lambda: client.post(f"{base}/twilio-{next(counter)}", body, content_type=JSON),
    )
    measure("POST replace", lambda: client.post(f"{base}/twilio-1", body, content_type=JSON))
    measure(
        "PATCH one secret",
        lambda: client.patch(f"{base}/twilio-1", '{"password": "rotated"}', content_type=JSON),
    )
    measure("GET one", lambda: client.get(f"{base}/twilio-1"))
    measure(f"GET list ({ROUNDS + 2} integrations)", lambda: client.get(base), rounds=30)

    start = time.perf_counter()
    for _ in range(10_000):
        tokens.matches(token, tokens.digest_of(token))
    per_check = (time.perf_counter() - start) / 10_000 * 1e6
    print(f"\ntoken verification (SHA-256 + compare_digest): {per_check:.1f} µs")


if __name__ == "__main__":
    main()
