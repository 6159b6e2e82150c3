"""The throughput benchmark: `make bench` (full) and `make bench-quick` (a 1-minute subset).

One run: a fresh PostgreSQL database (BENCH_DATABASE_URL; default: the server of DATABASE_URL,
else 127.0.0.1:5432 as registry/registry, database `registry_bench`, dropped and created),
migrated and seeded (tenants x 4 integrations, bulk); three gunicorns with the production
config (config/gunicorn.conf.py) on loopback: the app (DEBUG=false), the bare WSGI floor
(bench/floor_wsgi.py) and the bare Django floor (bench/floor_django_settings.py); wrk drives
each operation of bench/ops.py for a bounded time, app and floors interleaved, several rounds;
medians. Then worker memory, in-process CPU per request (bench/cpu.py) and micro-benchmarks
(bench/micro.py). Prints a table and writes bench/results.json. Timings are reported, never
asserted; any non-2xx answer or socket error flags its operation.
"""

import argparse
import json
import os
import platform
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from bench import ops as operations
from bench import procs
from bench.ops import DEFAULT_OPS, OPS, tenant_name

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = ROOT / "bench" / "results.json"
LOCAL_SERVER = "postgres://registry:registry@127.0.0.1:5432/"
PROFILES = {
    # tenants; wrk rounds (API operations, staff and admin pages) and seconds per run; in-process
    # CPU requests per operation (API: 400 x 5 operations = 2,000 per server; pages); warm-up
    "full": {"tenants": 10_000, "rounds": 7, "duration": 3, "page_rounds": 3, "page_duration": 4,
             "cpu_requests": 400, "page_cpu_requests": 20, "warm_up": 1},
    "quick": {"tenants": 1_000, "rounds": 1, "duration": 1, "page_rounds": 1, "page_duration": 2,
              "cpu_requests": 50, "page_cpu_requests": 2, "warm_up": 0},
}  # fmt: skip
TARGETS = ["app", "floor", "django_floor"]
MODULES = {"app": "config.wsgi", "floor": "bench.floor_wsgi",
           "django_floor": "bench.floor_django_wsgi"}  # fmt: skip
CPU_TARGET = {"app": "app", "floor": "wsgi", "django_floor": "django"}
PAGE_LIMIT_BYTES = 100 * 1024
# The app's per-token rate limit (API_TOKEN_RATE, 1200/min by default) would answer 429 to a
# benchmark; this one keeps the limiter's code on the path but never refuses.
TOKEN_RATE = "100000000/min"  # noqa: S105 (a rate, not a password)


def database_url() -> str:
    url = os.environ.get("BENCH_DATABASE_URL")
    if url:
        return url
    server = os.environ.get("DATABASE_URL", "")
    if not server.startswith(("postgres://", "postgresql://")):
        server = LOCAL_SERVER
    return urlunsplit(urlsplit(server)._replace(path="/registry_bench"))


def options(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the 1-minute subset")
    parser.add_argument("--tenants", type=int)
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--page-rounds", type=int)
    parser.add_argument("--duration", type=int, help="seconds per wrk run (API)")
    parser.add_argument("--page-duration", type=int, help="seconds per wrk run (pages)")
    parser.add_argument("--warm-up", type=int, help="seconds of wrk per server and operation")
    parser.add_argument("--cpu-requests", type=int)
    parser.add_argument("--page-cpu-requests", type=int)
    parser.add_argument(
        "--ops",
        help="comma-separated operation names (default: every one but "
        f"{', '.join(op.name for op in OPS if not op.default)})",
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--keep-logs", action="store_true", help="keep the gunicorn logs")
    parser.add_argument(
        "--cache",
        choices=CACHES,
        default="redis",
        help="the app's rate-limit store: a private redis-server, as in production (default), "
        "or the per-process memory cache",
    )
    args = parser.parse_args(argv)
    for key, value in PROFILES["quick" if args.quick else "full"].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    names = [op.name for op in OPS]
    args.ops = args.ops.split(",") if args.ops else DEFAULT_OPS
    unknown = set(args.ops) - set(names)
    if unknown:
        parser.error(f"unknown operations {sorted(unknown)}; known: {', '.join(names)}")
    return args


# The app's cache, where its rate limits count (tenants/throttling.py): --cache.
CACHES = {
    "redis": "Redis (a private redis-server on loopback, CACHE_URL, as in production)",
    "memory": "locmem (per process; production uses Redis)",
}


@contextmanager
def cache_for(kind: str, logs: Path) -> Iterator[dict[str, str]]:
    """The servers' environment for the cache `kind` (CACHES), its redis-server running for
    the block; the micro-benchmarks run in the bench's own process, on the memory cache."""
    if kind == "memory":
        yield {}
        return
    with procs.redis_cache(logs) as url:
        yield {"CACHE_URL": url}


def machine() -> dict:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "cpu_model": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
    }


def environment(url: str) -> dict[str, str]:
    """Production settings for every process of the run, nothing from .env."""
    from cryptography.fernet import Fernet

    return {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),  # noqa: S108
        "ENV_FILE": "/dev/null",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "DATABASE_URL": url,
        "BENCH_FLOOR_DATABASE_URL": url,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "API_TOKEN_RATE": TOKEN_RATE,
    }


def prepare(args, url: str, log) -> dict:
    """Fresh database, migrated and seeded; returns the token, the staff cookie and timings."""
    from bench import seed

    started = time.monotonic()
    seed.recreate_database(url)
    import django

    django.setup()
    seed.migrate()
    migrated = time.monotonic()
    seed.seed_tenants(args.tenants)
    floor_rows = seed.seed_floor_table()
    seed.analyze()
    seeded = time.monotonic()
    log(
        f"database {seed.database_name(url)}: migrated in {migrated - started:.1f} s, "
        f"{args.tenants} tenants x 4 integrations seeded in {seeded - migrated:.1f} s"
    )
    from django.db import connections

    state = {
        "tokens": seed.api_tokens(),
        "cookie": seed.staff_session_cookie(),
        "migrate_seconds": round(migrated - started, 2),
        "seed_seconds": round(seeded - migrated, 2),
        "floor_rows": floor_rows,
    }
    connections.close_all()
    return state


def auth_for(op, state) -> str:
    """What `op`'s requests carry in this run (prepare's tokens and staff cookie)."""
    return operations.auth_for(op, state["tokens"], state["cookie"])


def smoke(servers, ops, args, state, log) -> dict:
    """One request of each operation to each server that serves it: status and size."""
    checks = {}
    for op in ops:
        for target in TARGETS if op.kind == "api" else ["app"]:
            tenant, n = tenant_name(1), f"smoke{target.replace('_', '')}"
            path = op.path.replace("{tenant}", tenant).replace("{n}", n)
            body = op.body.replace("{tenant}", tenant).replace("{n}", n)
            status, content = procs.request(
                servers[target].port, op.method, path, body, auth_for(op, state)
            )
            checks[(op.name, target)] = {"status": status, "bytes": len(content)}
            if not 200 <= status < 300:
                log(f"  ! {op.name} on {target}: {status} {content[:200]!r}")
    return checks


def drive(servers, ops, args, state, log) -> dict[tuple[str, str], list[dict]]:
    """The wrk runs: per round, per operation, app and floors in a rotating order."""
    runs: dict[tuple[str, str], list[dict]] = {}

    def one(op, target, seconds, prefix):
        return procs.wrk(
            servers[target],
            method=op.method,
            path=op.path,
            body=op.body,
            tenants=args.tenants,
            prefix=prefix,
            auth=auth_for(op, state),
            seconds=seconds,
        )

    if args.warm_up:
        for op in ops:
            for target in TARGETS if op.kind == "api" else []:
                one(op, target, args.warm_up, f"w{target[0]}")
    for round_ in range(args.rounds):
        order = TARGETS[round_ % 3 :] + TARGETS[: round_ % 3]
        for op in ops:
            if op.kind == "page" and round_ >= args.page_rounds:
                continue
            for target in order if op.kind == "api" else ["app"]:
                seconds = args.duration if op.kind == "api" else args.page_duration
                run = one(op, target, seconds, f"r{round_}{target.replace('_', '')}")
                runs.setdefault((op.name, target), []).append(run)
                flag = "" if run["non2xx"] == 0 else f"  non-2xx {run['non2xx']}"
                log(
                    f"  round {round_ + 1}/{args.rounds} {op.name:<24} {target:<13}"
                    f"{run['rps']:9.1f} req/s  p50 {run['p50_us'] / 1000:7.1f} ms{flag}"
                )
    return runs


def in_process_cpu(env, ops, args, state, log) -> dict:
    """bench/cpu.py per target, each in its own process (two settings modules)."""
    cpu = {}
    for target in TARGETS:
        wanted = {
            op.name: args.cpu_requests if op.kind == "api" else args.page_cpu_requests
            for op in ops
            if op.kind == "api" or target == "app"
        }
        wanted = {name: count for name, count in wanted.items() if count > 0}
        if not wanted:
            continue
        command = [sys.executable, "-m", "bench.cpu", CPU_TARGET[target],
                   ",".join(f"{name}:{count}" for name, count in wanted.items()),
                   str(args.tenants), json.dumps(state["tokens"]), state["cookie"]]  # fmt: skip
        measured = procs.run_json(command, what=f"bench.cpu {target}", cwd=ROOT, env=env)
        for name, values in measured.items():
            cpu[(name, target)] = values
            log(f"  cpu {name:<24} {target:<13} {values['cpu_ms']:8.2f} ms/request")
    return cpu


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def rounded(value, digits=2):
    return None if value is None else round(value, digits)


def ratio(app, floor):
    return round(app / floor, 3) if app and floor else None


def paired_ratio(app_rounds: list[float], floor_rounds: list[float]) -> float | None:
    """The median over rounds of app req/s / floor req/s measured in the same round (the
    rounds interleave the servers), or None without a round where both answered."""
    # Pages have no floor: no rounds on that side, no ratio.
    pairs = zip(app_rounds, floor_rounds, strict=False)
    ratios = [app / floor for app, floor in pairs if app and floor]
    return round(statistics.median(ratios), 3) if ratios else None


def summarise(ops, runs, cpu, checks) -> dict:
    results = {}
    for op in ops:
        row: dict = {}
        for target in TARGETS:
            target_runs = runs.get((op.name, target), [])
            row[target] = {
                "rps": median([r["rps"] for r in target_runs]),
                "p50_ms": median([r["p50_us"] / 1000 for r in target_runs if r["requests"]]),
                "p99_ms": median([r["p99_us"] / 1000 for r in target_runs if r["requests"]]),
                "worker_cpu_ms": median([r["server_cpu_ms_per_request"] for r in target_runs]),
                "db_cpu_ms": median([r.get("db_cpu_ms_per_request") for r in target_runs]),
                "requests": sum(r["requests"] for r in target_runs),
                "non2xx": sum(r["non2xx"] for r in target_runs)
                + cpu.get((op.name, target), {}).get("non2xx", 0),
                "socket_errors": sum(sum(r["socket_errors"].values()) for r in target_runs),
                "first_non2xx_status": next(
                    (r["first_non2xx_status"] for r in target_runs if r["first_non2xx_status"]),
                    None,
                ),
                "rounds_rps": [round(r["rps"], 1) for r in target_runs],
                "empty_runs": sum(1 for r in target_runs if not r["requests"]),
            }
            check = checks.get((op.name, target))
            if check and not 200 <= check["status"] < 300:
                row[target]["non2xx"] += 1
                row[target]["first_non2xx_status"] = (
                    row[target]["first_non2xx_status"] or (check["status"])
                )
        app, floor, django_floor = row["app"], row["floor"], row["django_floor"]
        size = checks.get((op.name, "app"), {}).get("bytes")
        errors = any(row[t]["non2xx"] or row[t]["socket_errors"] for t in TARGETS)
        results[op.name] = {
            "app_rps": rounded(app["rps"], 1),
            "floor_rps": rounded(floor["rps"], 1),
            "ratio": ratio(app["rps"], floor["rps"]),
            # Each round's app/floor, then their median: both sides of a round ran on the
            # machine as it was then, so a neighbour's load moves them together.
            "ratio_paired": paired_ratio(app["rounds_rps"], floor["rounds_rps"]),
            "django_floor_rps": rounded(django_floor["rps"], 1),
            "ratio_django": ratio(app["rps"], django_floor["rps"]),
            "app_p50_ms": rounded(app["p50_ms"]),
            "app_p99_ms": rounded(app["p99_ms"]),
            "floor_p50_ms": rounded(floor["p50_ms"]),
            "django_floor_p50_ms": rounded(django_floor["p50_ms"]),
            "cpu_ms": rounded(cpu.get((op.name, "app"), {}).get("cpu_ms"), 3),
            "django_floor_cpu_ms": rounded(cpu.get((op.name, "django_floor"), {}).get("cpu_ms"), 3),
            "floor_cpu_ms": rounded(cpu.get((op.name, "floor"), {}).get("cpu_ms"), 3),
            "app_worker_cpu_ms": rounded(app["worker_cpu_ms"]),
            "floor_worker_cpu_ms": rounded(floor["worker_cpu_ms"]),
            "django_floor_worker_cpu_ms": rounded(django_floor["worker_cpu_ms"]),
            # The CPU of the PostgreSQL backends serving each server's requests, per request
            # (procs.DatabaseCpu; None when the database is not on this machine).
            "app_db_cpu_ms": rounded(app["db_cpu_ms"], 3),
            "floor_db_cpu_ms": rounded(floor["db_cpu_ms"], 3),
            "django_floor_db_cpu_ms": rounded(django_floor["db_cpu_ms"], 3),
            "requests": {t: row[t]["requests"] for t in TARGETS},
            "non2xx": {t: row[t]["non2xx"] for t in TARGETS},
            "socket_errors": {t: row[t]["socket_errors"] for t in TARGETS},
            "first_non2xx_status": {t: row[t]["first_non2xx_status"] for t in TARGETS},
            "rounds_rps": {t: row[t]["rounds_rps"] for t in TARGETS},
            "bytes": size,
            "errors": errors,
            # wrk runs in which no answer came back in time: too short for this page.
            "empty_runs": app["empty_runs"],
        }
        if op.kind == "page":
            results[op.name]["over_100_kib"] = size is not None and size > PAGE_LIMIT_BYTES
    get_one = results.get("get_one", {}).get("app_p50_ms")
    for op in ops:
        if op.kind == "page" and get_one and results[op.name]["app_p50_ms"] is not None:
            results[op.name]["p50_vs_get_one"] = round(results[op.name]["app_p50_ms"] / get_one, 1)
    return results


def fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def table(results: dict, ops) -> str:
    lines = [
        "| operation | app req/s | WSGI floor | app/floor | per round | Django floor "
        "| app/Django | app p50 ms | app p99 ms | CPU ms app / Django | worker CPU ms "
        "| DB CPU ms app / floor | non-2xx | size |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for op in ops:
        r = results[op.name]
        flags = " ⚠ errors" if r["errors"] else ""
        if r.get("over_100_kib"):
            flags += " ⚠ >100 KiB"
        if r["empty_runs"]:
            flags += f" ⚠ {r['empty_runs']} run(s) without an answer"
        size = "-" if r["bytes"] is None else f"{r['bytes'] / 1024:.1f} KiB"
        bad = sum(r["non2xx"].values()) + sum(r["socket_errors"].values())
        lines.append(
            f"| {op.name}{flags} | {fmt(r['app_rps'], ',.1f')} | {fmt(r['floor_rps'], ',.1f')} "
            f"| {fmt(r['ratio'], '.3f')} | {fmt(r['ratio_paired'], '.3f')} "
            f"| {fmt(r['django_floor_rps'], ',.1f')} "
            f"| {fmt(r['ratio_django'], '.3f')} | {fmt(r['app_p50_ms'], '.1f')} "
            f"| {fmt(r['app_p99_ms'], '.1f')} "
            f"| {fmt(r['cpu_ms'], '.2f')} / {fmt(r['django_floor_cpu_ms'], '.2f')} "
            f"| {fmt(r['app_worker_cpu_ms'], '.1f')} "
            f"| {fmt(r['app_db_cpu_ms'], '.2f')} / {fmt(r['floor_db_cpu_ms'], '.2f')} "
            f"| {bad} | {size} |"
        )
    return "\n".join(lines)


def worker_memory(servers) -> dict:
    memory = {}
    for target, server in servers.items():
        memory[target] = [
            {"pid": pid, **{k.lower() + "_mib": round(v / 1024, 1) for k, v in kib.items()}}
            for pid in server.workers()
            if (kib := procs.memory_kib(pid))
        ]
    return memory


def begin() -> tuple[Callable[[str], None], float, dict, str, dict[str, str]]:
    """What a run of servers under wrk starts with (this one, bench/layers.py). SystemExit
    without wrk. Returns (log, started, machine, url, env): `log` prints a line stamped with
    the seconds since `started` (time.monotonic()); machine() of this one; the database URL;
    the servers' environment, also made this process's."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install wrk")
    started = time.monotonic()

    def log(message: str) -> None:
        print(f"[{time.monotonic() - started:6.1f} s] {message}" if message else "", flush=True)

    url = database_url()
    env = environment(url)
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ["LOG_LEVEL"] = "WARNING"  # this process only; the servers log as in production
    return log, started, machine(), url, env


def main(argv: list[str] | None = None) -> dict:
    args = options(argv)
    log, started, info, url, env = begin()
    ops = [op for op in OPS if op.name in args.ops]
    log(f"bench: {info['cpu_model']}, {info['cores']} cores, load {info['load_average_before']}")
    state = prepare(args, url, log)

    from bench import micro

    scale = 4 if args.quick else 1
    micro_results = {
        **micro.token_check(
            state["tokens"]["every"], number=20_000 // scale, with_query=200 // scale
        ),
        **micro.encryption(number=2000 // scale),
    }
    log("micro-benchmarks done")
    from django.db import connections

    connections.close_all()

    logs = Path(tempfile.mkdtemp(prefix="bench-logs-"))
    servers = {}
    with cache_for(args.cache, logs) as cache_env:
        env = {**env, **cache_env}
        try:
            for target in TARGETS:
                servers[target] = procs.start_gunicorn(target, MODULES[target], env, logs)
            for server in servers.values():
                procs.wait_until_up(server, int(env.get("GUNICORN_WORKERS", "2")))
            log(f"gunicorn x3 up (logs in {logs}); smoke requests")
            checks = smoke(servers, ops, args, state, log)
            runs = drive(servers, ops, args, state, log)
            memory = worker_memory(servers)
        finally:
            for server in servers.values():
                server.stop()
        cpu = in_process_cpu(env, ops, args, state, log)
    results = summarise(ops, runs, cpu, checks)
    flagged = [name for name, r in results.items() if r["errors"]]
    info["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    settings_used = {
        "profile": "quick" if args.quick else "full",
        "tenants": args.tenants,
        "integrations_per_tenant": 4,
        "rounds": args.rounds,
        "page_rounds": args.page_rounds,
        "seconds_per_run": args.duration,
        "seconds_per_page_run": args.page_duration,
        "warm_up_seconds": args.warm_up,
        "wrk": "wrk -t2 -c8 --timeout 30s, bench/wrk/ops.lua",
        "gunicorn": "config/gunicorn.conf.py: gthread, "
        f"{env.get('GUNICORN_WORKERS', '2')} workers x {env.get('GUNICORN_THREADS', '4')} threads",
        "database": f"PostgreSQL, database {urlsplit(url).path.lstrip('/')} (fresh)",
        "token": "one all-tenants token, every scope (secrets revealed and audited); "
        "get_one_masked: one with the read scope alone (secrets masked, nothing revealed)",
        "api_token_rate": TOKEN_RATE,
        "cache": CACHES[args.cache],
        "cpu_requests_per_operation": args.cpu_requests,
        "page_cpu_requests_per_page": args.page_cpu_requests,
        "seed_seconds": state["seed_seconds"],
        "migrate_seconds": state["migrate_seconds"],
    }
    output = {
        **results,
        "machine": info,
        "settings": settings_used,
        "micro": {k: round(v, 2) for k, v in micro_results.items()},
        "worker_memory": memory,
        "flagged": flagged,
        "total_seconds": round(time.monotonic() - started, 1),
    }
    args.output.write_text(json.dumps(output, indent=2) + "\n")
    log("")
    log(table(results, ops))
    log("")
    log("micro: " + ", ".join(f"{k} {v:.2f}" for k, v in output["micro"].items()))
    for target, workers in memory.items():
        rss = ", ".join(f"{w.get('vmrss_mib')} MiB (peak {w.get('vmhwm_mib')})" for w in workers)
        log(f"worker RSS {target}: {rss}")
    log(
        f"load {info['load_average_before']} -> {info['load_average_after']}, "
        f"{output['total_seconds']} s; wrote {args.output}"
    )
    if flagged:
        log(f"FLAGGED (non-2xx or socket errors): {', '.join(flagged)}; logs kept in {logs}")
    elif not args.keep_logs:
        shutil.rmtree(logs, ignore_errors=True)
    return output


if __name__ == "__main__":
    main()
