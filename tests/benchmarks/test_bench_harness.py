"""The throughput benchmark's harness (bench/, `make bench`): its seeding, its floors' SQL,
and the shape of bench/results.json from a tiny end-to-end run. No timing is asserted."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bench import compare, floor_sql, layers_urls, procs, seed
from bench.layers import LAYERS
from bench.ops import BY_NAME, DEFAULT_OPS, OPS, auth_for, fill, tenant_name
from integrations.models import Integration
from integrations.providers import TwilioIntegration, all_providers
from tenants.models import AuditAction, AuditEvent
from tests.benchmarks.harness import bench_env, git, need_wrk, worktrees

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


@pytest.mark.django_db
def test_get_one_masked_is_get_one_without_its_reveal(client, settings):
    """The opt-in operation measures what recording a reveal costs: GET one's very request,
    sent with a read-scope token, so the secret is masked and no reveal event is written."""
    settings.API_TOKEN_RATE = "100000000/min"
    seed.seed_tenants(1)
    tokens = seed.api_tokens()
    revealed = AuditEvent.objects.filter(action=AuditAction.REVEAL)

    answers = {}
    for name in ("get_one", "get_one_masked"):
        op = BY_NAME[name]
        path = fill(op.path, tenant=tenant_name(1), n="x")
        response = client.generic(
            op.method, path, HTTP_AUTHORIZATION=auth_for(op, tokens, cookie="")
        )
        answers[name] = (path, response.status_code, response.json()["password"], revealed.count())

    path = f"/1.0/tenants/{tenant_name(1)}/integrations/twilio"
    secret = answers["get_one"][2]
    assert secret.startswith("bulk-secret-password-")
    assert answers["get_one"] == (path, 200, secret, 1)
    assert answers["get_one_masked"] == (path, 200, "********", 1)  # masked; nothing recorded
    assert "get_one_masked" not in DEFAULT_OPS  # run only when --ops names it
    assert "get_one_masked" not in compare.API_OPS


def test_a_tiny_run_writes_results_of_the_documented_shape(tmp_path):
    need_wrk()
    output = tmp_path / "results.json"
    env = bench_env("registry_bench_test")

    command = [sys.executable, "-m", "bench.run", "--quick", "--tenants", "5", "--duration", "1",
               "--page-duration", "1", "--ops", "get_one,get_one_masked,staff_tenant_list",
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
    for name in ("get_one", "get_one_masked", "staff_tenant_list"):
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
    assert results["get_one_masked"]["ratio_paired"] > 0
    assert results["staff_tenant_list"]["ratio_paired"] is None
    assert results["staff_tenant_list"]["floor_rps"] is None  # the app's pages have no floor
    # The database runs on this machine (bench_env): its backends' CPU is measured per server.
    assert results["get_one"]["app_db_cpu_ms"] > 0
    assert results["get_one"]["floor_db_cpu_ms"] > 0
    assert results["get_one"]["django_floor_db_cpu_ms"] > 0
    assert set(results["machine"]) >= {"cpu_model", "cores", "load_average_before"}
    assert results["settings"]["tenants"] == 5
    assert results["settings"]["cache"].startswith("Redis")  # as in production
    assert results["worker_memory"]["app"]
    assert results["flagged"] == []


def _wrk_run(
    rps: float, cpu_ms: float | None, *, db_ms: float | None = 1.0, requests=100, non2xx=0
) -> dict:
    return {
        "rps": rps,
        "server_cpu_ms_per_request": cpu_ms,
        "db_cpu_ms_per_request": db_ms,
        "p50_ms": 10.0,
        "requests": requests,
        "non2xx": non2xx,
        "socket_errors": {"connect": 0, "read": 0, "write": 0, "timeout": 0},
    }


def test_compare_takes_the_median_of_each_rounds_after_over_before():
    # Round 2 ran on a machine twice as fast for both sides: per-round ratios stay 1.25.
    runs = {
        ("get_one", "before"): [_wrk_run(400, 2.0), _wrk_run(800, 1.0), _wrk_run(400, 2.0)],
        ("get_one", "after"): [
            _wrk_run(500, 1.5, db_ms=0.5),
            _wrk_run(1000, 0.75, db_ms=None),  # a database on another machine: not measured
            _wrk_run(480, 1.6, db_ms=0.6),
        ],
    }

    measured = {
        ("get_one", "before"): {"calls": 2000.0, "cpu_ms": 1.2, "statuses": {"200": 10}},
        ("get_one", "after"): {"calls": 1500.0, "cpu_ms": 0.96, "statuses": {"200": 10}},
    }

    result = compare.summarise(runs, ["get_one"], measured)["get_one"]

    assert result["speedup"] == 1.25  # rounds: 1.25, 1.25, 1.2
    assert result["cpu_ratio"] == 0.75  # rounds: 0.75, 0.75, 0.8
    assert result["db_cpu_ratio"] == 0.55  # rounds: 0.5, 0.6 (the one without is left out)
    assert result["after_db_cpu_ms"] == 0.55
    assert result["before_rps"] == 400.0
    assert result["after_rps"] == 500.0
    assert result["before_worker_cpu_ms"] == 2.0
    assert result["rounds"][1] == {"before": 800.0, "after": 1000.0}
    assert result["non2xx"] == {"before": 0, "after": 0}
    assert (result["before_calls"], result["after_calls"], result["calls_ratio"]) == (
        2000.0,
        1500.0,
        0.75,
    )
    assert result["inprocess_cpu_ratio"] == 0.8


def test_compare_counts_failed_answers_and_leaves_out_rounds_without_answers():
    runs = {
        ("post_replace", "before"): [_wrk_run(300, 3.0), _wrk_run(0, None, requests=0)],
        ("post_replace", "after"): [_wrk_run(330, 2.7, non2xx=4), _wrk_run(310, 2.9)],
    }

    measured = {
        ("post_replace", "before"): {
            "calls": 3000.0,
            "cpu_ms": 2.0,
            "statuses": {"200": 9, "503": 2},
        }
    }

    result = compare.summarise(runs, ["post_replace"], measured)["post_replace"]

    assert result["speedup"] == 1.1  # the second round had no answer before: not a ratio
    assert result["cpu_ratio"] == 0.9
    assert result["non2xx"] == {"before": 2, "after": 4}  # in process too
    assert result["after_calls"] is None and result["calls_ratio"] is None  # not measured


@pytest.mark.parametrize(
    "revision", ["no-such-revision-anywhere", "", " ", "--output=/tmp/x", "-h", "HEAD:README.md"]
)
def test_compare_refuses_a_revision_that_names_no_commit(revision):
    with pytest.raises(SystemExit, match="names no commit"):
        compare.resolve(revision)


def test_compare_resolves_a_revision_to_its_commit():
    assert compare.resolve("HEAD") == git("rev-parse", "HEAD")


def test_a_tiny_compare_run_serves_both_trees_and_removes_the_base_worktree(tmp_path):
    need_wrk()
    output = tmp_path / "compare.json"
    env = bench_env("registry_bench_test")
    worktrees_before = worktrees()

    command = [sys.executable, "-m", "bench.compare", "--base", "HEAD", "--tenants", "5",
               "--rounds", "2", "--duration", "1", "--ops", "get_one,post_create",
               "--calls-requests", "40", "--calls-rounds", "2",
               "--output", str(output)]  # fmt: skip
    run = subprocess.run(
        command, cwd=ROOT, env=env, check=True, capture_output=True, text=True, timeout=240
    )

    results = json.loads(output.read_text())
    assert results["base"] == git("rev-parse", "HEAD")
    in_process = [
        list(found.groups())
        for line in run.stdout.splitlines()
        if (found := re.search(r"in-process (\d+/\d+) (\S+) +(\S+)", line))
    ]
    assert in_process == [  # two rounds, the sides alternating; operations in bench/ops.py's order
        [f"{round_}/2", name, side]
        for round_, sides in ((1, ("before", "after")), (2, ("after", "before")))
        for side in sides
        for name in ("post_create", "get_one")
    ]
    for name in ("get_one", "post_create"):
        result = results["results"][name]
        assert result["before_rps"] > 0 and result["after_rps"] > 0, result
        assert result["speedup"] > 0 and result["cpu_ratio"] > 0, result
        assert result["db_cpu_ratio"] > 0, result  # PostgreSQL runs on this machine here
        # The same commit on both sides (a clean tree): the same Python, near enough (a
        # last-used-at due or not, a rate window's first hit) the same calls.
        assert 0.9 < result["calls_ratio"] < 1.1, result
        assert result["before_calls"] > 500 and result["inprocess_cpu_ratio"] > 0, result
        assert result["non2xx"] == {"before": 0, "after": 0}, result
        assert len(result["rounds"]) == 2
    assert worktrees() == worktrees_before
    assert results["settings"]["cache"].startswith("Redis")


def test_the_bench_redis_answers_for_the_block_and_is_gone_after(tmp_path):
    import redis

    with procs.redis_cache(tmp_path) as url:
        client = redis.Redis.from_url(url)
        assert client.ping()
        port = client.connection_pool.connection_kwargs["port"]
    assert procs._redis_pid(port) is None


def test_without_redis_server_the_bench_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(procs.shutil, "which", lambda name: None)
    with (
        pytest.raises(SystemExit, match="apt-get install redis-server"),
        procs.redis_cache(tmp_path),
    ):
        pass


def test_database_cpu_counts_the_named_databases_backends_and_no_other():
    # A backend of the `postgres` database, busy: counted for it, not for another database.
    import psycopg

    server = urlsplit(os.environ["DATABASE_URL"])
    with (
        procs.DatabaseCpu("postgres", server.username) as mine,
        procs.DatabaseCpu("no_such_database", server.username) as other,
        psycopg.connect(urlunsplit(server._replace(path="/postgres"))) as busy,
    ):
        busy.execute("SELECT count(*) FROM generate_series(1, 4000000)").fetchone()

    assert mine.ticks >= 0.1 * procs.TICKS
    assert other.ticks == 0


def test_every_layer_has_its_view():
    assert set(layers_urls.VIEWS) == set(LAYERS)


def _layer_request(rf, layer: str, method: str, token: str | None, body: str = ""):
    """One request to `layer`'s view for tenant 1's Twilio integration: its status and JSON."""
    tenant = tenant_name(1)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    request = getattr(rf, method)(
        f"/1.0/tenants/{tenant}/integrations/twilio", body, "application/json", **headers
    )
    response = layers_urls.VIEWS[layer](request, tenant=tenant, id="twilio")
    if hasattr(response, "render"):  # DRF's own answers (its refusals) render late
        response.render()
    return response.status_code, json.loads(response.content)


@pytest.mark.django_db
@pytest.mark.parametrize("layer", LAYERS)
def test_each_layer_answers_as_the_floor_and_only_the_audited_ones_record(layer, settings, rf):
    """bench/layers_urls.py: every layer gives the floor's answer; `*_audited` layers write
    one audit row of the URL's tenant IN the statement that reads or writes (one round trip,
    as the app's), the others none."""
    settings.API_TOKEN_RATE = "100000000/min"
    seed.seed_tenants(1)
    seed.seed_floor_table()
    token = seed.api_tokens()["every"]
    recorded = AuditEvent.objects.filter(action=layers_urls.AUDIT_ACTION)
    body = json.dumps({"type": "twilio", "account": "AC9", "password": "pw-9"})

    with CaptureQueriesContext(connection) as queries:
        answers = [
            _layer_request(rf, layer, "get", token),
            _layer_request(rf, layer, "post", token, body),
        ]

    assert [(status, content["id"]) for status, content in answers] == [(200, "twilio")] * 2
    assert answers[1][1]["account"] == "AC9"
    audited = layer.endswith("_audited")
    assert recorded.count() == (2 if audited else 0)
    assert {event.tenant.name for event in recorded} <= {tenant_name(1)}
    floor_statements = [q["sql"] for q in queries.captured_queries if "bench_floor" in q["sql"]]
    assert len(floor_statements) == 2
    assert all(sql.startswith("WITH audit AS (INSERT") == audited for sql in floor_statements)
    assert sum("tenants_auditevent" in q["sql"] for q in queries.captured_queries) == (
        2 if audited else 0
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT data->>'account' FROM bench_floor WHERE tenant = %s AND "
                       "ident = 'twilio'", [tenant_name(1)])  # fmt: skip
        assert cursor.fetchone() == ("AC9",)  # the POST wrote


@pytest.mark.django_db
@pytest.mark.parametrize("layer", [layer for layer in LAYERS if not layer.startswith("stack")])
def test_the_authenticating_layers_run_the_apps_token_rate_and_permission(layer, settings, rf):
    """`api`, `api_audited` and `auth_audited` refuse as the app does: no token 401, a token
    without the write scope 403 on POST, a token over its rate 429."""
    settings.API_TOKEN_RATE = "2/min"
    seed.seed_tenants(1)
    seed.seed_floor_table()
    tokens = seed.api_tokens()
    body = json.dumps({"type": "twilio", "account": "AC9", "password": "pw-9"})

    anonymous = _layer_request(rf, layer, "get", None)[0]
    read_only_post = _layer_request(rf, layer, "post", tokens["read"], body)[0]
    rated = [_layer_request(rf, layer, "get", tokens["every"])[0] for _ in range(3)]

    assert (anonymous, read_only_post, rated) == (401, 403, [200, 200, 429])


def test_a_tiny_layers_run_measures_every_layer_of_each_operation(tmp_path):
    need_wrk()
    output = tmp_path / "layers.json"
    command = [sys.executable, "-m", "bench.layers", "--tenants", "5", "--rounds", "1",
               "--duration", "1", "--warm-up", "0", "--output", str(output)]  # fmt: skip

    subprocess.run(command, cwd=ROOT, env=bench_env("registry_bench_test"), check=True,
                   capture_output=True, timeout=240)  # fmt: skip

    results = json.loads(output.read_text())
    assert results["failed"] == []
    for name in ("get_one", "post_replace"):
        assert list(results[name]) == ["floor", "django_floor", *LAYERS, "app"]
        for server, figures in results[name].items():
            assert figures["errors"] is False, (name, server)
            assert figures["rps"] > 0, (name, server)
            assert figures["ratio_paired"] > 0, (name, server)
        assert results[name]["floor"]["ratio"] == 1.0
    assert results["settings"]["cache"].startswith("Redis")
    assert results["commit"].removesuffix("+") == git("rev-parse", "HEAD")
    assert set(results["database_settings"]) >= {"synchronous_commit", "fsync", "server_version"}
    assert len(results["get_one"]["app"]["rounds_rps"]) == 1
