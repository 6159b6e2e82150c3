"""The throughput benchmark's harness (bench/, `make bench`): its seeding, its floors' SQL,
and the shape of bench/results.json from a tiny end-to-end run. No timing is asserted."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.db import connection

from bench import floor_sql, seed
from bench.ops import OPS, fill, tenant_name
from integrations.models import Integration
from integrations.providers import TwilioIntegration, all_providers
from tests.conftest import IN_CI

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.postgres


@pytest.mark.django_db
def test_seeding_gives_each_tenant_one_readable_integration_of_every_provider():
    seed.seed_tenants(3)

    assert seed.seed_floor_table() == 3 * len(all_providers())
    assert Integration.objects.filter(tenant__name=tenant_name(3)).count() == len(all_providers())
    twilio = TwilioIntegration.objects.get(tenant__name=tenant_name(2), ident="twilio")
    assert twilio.password.reveal().startswith("bulk-secret-password-")  # decrypts
    with connection.cursor() as cursor:
        cursor.execute("SELECT data->>'password' FROM bench_floor WHERE ident = 'twilio' LIMIT 1")
        assert not cursor.fetchone()[0].startswith("bulk-secret")  # stored encrypted


@pytest.mark.django_db
def test_the_floor_answers_every_api_operation_with_one_statement():
    seed.seed_tenants(2)
    seed.seed_floor_table()
    expected = {"POST": {200, 201}, "GET": {200}, "PATCH": {200}}

    for op in (op for op in OPS if op.kind == "api"):
        path, body = (fill(t, tenant=tenant_name(1), n="t-1-1") for t in (op.path, op.body))
        with connection.cursor() as cursor:
            status, content = floor_sql.handle(cursor, op.method, path, body.encode())

        assert status in expected[op.method], (op.name, status, content)
        assert json.loads(content)


def test_a_tiny_run_writes_results_of_the_documented_shape(tmp_path):
    if shutil.which("wrk") is None:
        if IN_CI:
            pytest.fail("needs wrk (apt-get install wrk); CI=true: fails instead of skipping")
        pytest.skip("needs wrk (apt-get install wrk)")
    server = urlsplit(os.environ["DATABASE_URL"])
    output = tmp_path / "results.json"
    env = {
        **os.environ,
        "BENCH_DATABASE_URL": urlunsplit(server._replace(path="/registry_bench_test")),
    }

    command = [sys.executable, "-m", "bench.run", "--quick", "--tenants", "5", "--duration", "1",
               "--page-duration", "1", "--ops", "get_one,staff_tenant_list",
               "--cpu-requests", "3", "--page-cpu-requests", "1",
               "--output", str(output)]  # fmt: skip
    subprocess.run(
        command,
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=180,
    )

    results = json.loads(output.read_text())
    for name in ("get_one", "staff_tenant_list"):
        for key in (
            "app_rps",
            "floor_rps",
            "ratio",
            "ratio_paired",
            "app_p50_ms",
            "app_p99_ms",
            "cpu_ms",
        ):
            assert key in results[name], (name, key)
        assert results[name]["errors"] is False, results[name]
    assert results["get_one"]["app_rps"] > 0
    assert results["get_one"]["floor_rps"] > 0
    assert results["get_one"]["ratio_paired"] > 0
    assert results["staff_tenant_list"]["ratio_paired"] is None
    assert results["staff_tenant_list"]["floor_rps"] is None  # the app's pages have no floor
    assert set(results["machine"]) >= {"cpu_model", "cores", "load_average_before"}
    assert results["settings"]["tenants"] == 5
    assert results["worker_memory"]["app"]
    assert results["flagged"] == []
