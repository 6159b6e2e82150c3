"""How near the stack itself lets the API come to its floor: `make bench-layers`.

`make bench` measures the app against two floors. This measures what lies between them and
the app: each API operation served by the stack's layers one at a time, each layer doing only
the floors' one statement (bench/floor_sql.py) and none of the app's own work, against the
bare WSGI floor in the same run. Whatever a layer reaches is the most that any view built on
it can reach, however cheap that view; the app's own code costs the rest.

Servers (gunicorn, config/gunicorn.conf.py, as `make bench` runs them):
- `floor`: bench/floor_wsgi.py (psycopg, no framework);
- `django_floor`: bench/floor_django_wsgi.py (Django, no apps, no middleware);
- `stack`, `stack_audited`, `api`, `api_audited`, `auth_audited`: bench/layers_urls.py (the
  app's settings and middleware; then DRF with the app's token authentication, rate limits
  and permission; each with and without the audit row the app writes in the same statement;
  and the audited one with the authentication but without DRF's view);
- `app`: the app (config.wsgi).

One fresh database, seeded as `make bench` seeds it (bench/run.py's `prepare`); the rate
limits count in a private Redis (`--cache`). Every round drives each operation against each
server under `wrk -t2 -c8` in a rotating order; medians over rounds. Prints a table and writes
bench/layers.json: per operation and server `rps`, `ratio` (over the floor's median),
`ratio_paired` (the median of each round's ratio), worker and database CPU per request, p50,
and `errors` (any non-2xx answer or socket error: the run then exits 1, logs kept). Timings
are reported, never asserted.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench import procs
from bench.compare import git
from bench.ops import OPS, fill, tenant_name
from bench.run import (
    CACHES,
    ROOT,
    auth_for,
    begin,
    cache_for,
    fmt,
    median,
    paired_ratio,
    prepare,
    rounded,
)
from bench.run import ratio as ratio_of

DEFAULT_OUTPUT = ROOT / "bench" / "layers.json"
DEFAULT_OPS = ["get_one", "post_replace"]
# Served by bench/layers_urls.py (its VIEWS, one per name: tests/benchmarks).
LAYERS = ["stack", "stack_audited", "api", "api_audited", "auth_audited"]
SERVERS = ["floor", "django_floor", *LAYERS, "app"]
MODULES = {"floor": "bench.floor_wsgi", "django_floor": "bench.floor_django_wsgi",
           **dict.fromkeys(LAYERS, "bench.layers_wsgi"), "app": "config.wsgi"}  # fmt: skip


def options(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (`--help`); `ops` becomes bench/ops.py's Op of each name."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenants", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=int, default=3, help="seconds per wrk run")
    parser.add_argument("--warm-up", type=int, default=1, help="seconds per server and operation")
    parser.add_argument(
        "--ops", default=",".join(DEFAULT_OPS), help="comma-separated API operations"
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--keep-logs", action="store_true", help="keep the gunicorn logs")
    parser.add_argument("--cache", choices=CACHES, default="redis")
    args = parser.parse_args(argv)
    api = {op.name: op for op in OPS if op.kind == "api"}
    unknown = [name for name in args.ops.split(",") if name not in api]
    if unknown:
        parser.error(f"unknown API operations {unknown}; known: {', '.join(api)}")
    args.ops = [api[name] for name in args.ops.split(",")]
    return args


def drive(
    servers: dict[str, procs.Server], args: argparse.Namespace, state: dict, log: Callable
) -> dict[tuple[str, str], list[dict]]:
    """The wrk runs (after a warm-up of each): per round, per operation, every server in a
    rotating order. {(operation, server): [procs.wrk()'s result per round]}."""
    runs: dict[tuple[str, str], list[dict]] = {}
    names = list(servers)

    def one(op, name, seconds, prefix):
        return procs.wrk(servers[name], method=op.method, path=op.path, body=op.body,
                         tenants=args.tenants, prefix=prefix, auth=auth_for(op, state),
                         seconds=seconds)  # fmt: skip

    for op in args.ops:
        for index, name in enumerate(names):
            if args.warm_up:
                one(op, name, args.warm_up, f"w{index}")
    for round_ in range(args.rounds):
        order = names[round_ % len(names) :] + names[: round_ % len(names)]
        for op in args.ops:
            for name in order:
                run = one(op, name, args.duration, f"l{round_}{names.index(name)}")
                runs.setdefault((op.name, name), []).append(run)
                flag = "" if run["non2xx"] == 0 else f"  non-2xx {run['non2xx']}"
                log(f"  round {round_ + 1}/{args.rounds} {op.name:<14} {name:<14}"
                    f"{run['rps']:9.1f} req/s{flag}")  # fmt: skip
    return runs


def smoke(servers: dict[str, procs.Server], op, state: dict) -> None:
    """Checks that each server is what it is named, before any is measured: a request without
    a token is refused (401) by the app and the authenticating layers, answered by the rest;
    one with the token writes a `bench-layer` audit row on the audited layers alone.
    SystemExit saying which server is not."""
    from bench.layers_urls import AUDIT_ACTION  # both need Django, which prepare() set up
    from tenants.models import AuditEvent

    recorded = AuditEvent.objects.filter(action=AUDIT_ACTION)
    path = fill(op.path, tenant=tenant_name(1), n="smoke")
    body = fill(op.body, tenant=tenant_name(1), n="smoke")
    for name, server in servers.items():
        anonymous = procs.request(server.port, op.method, path, body, "")[0]
        before = recorded.count()
        status, content = procs.request(server.port, op.method, path, body, auth_for(op, state))
        audited = recorded.count() - before
        expected = (401 if name == "app" or name.startswith(("api", "auth")) else 200,
                    1 if name.endswith("_audited") else 0)  # fmt: skip
        if (anonymous, audited) != expected or not 200 <= status < 300:
            raise SystemExit(
                f"{name} is not what it is named: {op.name} without a token {anonymous}, with "
                f"it {status} {content[:200]!r}, {audited} audit rows; expected {expected}"
            )


def figures(runs: list[dict], floor: list[float]) -> dict:
    """One server's figures for one operation, from its wrk runs and the floor's req/s."""
    rps = [r["rps"] for r in runs]
    answered = [r for r in runs if r["requests"]]
    return {
        "rps": rounded(median(rps), 1),
        "ratio": ratio_of(median(rps), median(floor)),
        "ratio_paired": paired_ratio(rps, floor),
        "worker_cpu_ms": rounded(median([r["server_cpu_ms_per_request"] for r in runs])),
        "db_cpu_ms": rounded(median([r.get("db_cpu_ms_per_request") for r in runs])),
        "p50_ms": rounded(median([r["p50_us"] / 1000 for r in answered]), 1),
        "rounds_rps": rps,
        "errors": any(
            not r["requests"] or r["non2xx"] or any(r["socket_errors"].values()) for r in runs
        ),
    }


def summarise(ops: list, runs: dict[tuple[str, str], list[dict]]) -> dict[str, dict]:
    """{operation: {server: figures()}}, servers in SERVERS' order, from drive()'s runs."""
    results: dict = {}
    for op in ops:
        floor = [r["rps"] for r in runs[(op.name, "floor")]]
        results[op.name] = {name: figures(runs[(op.name, name)], floor) for name in SERVERS}
    return results


def table(results: dict[str, dict]) -> str:
    """summarise()'s results as a Markdown table; "-" where a figure is missing."""
    heads = ["operation", "server", "req/s", "/floor", "per round", "worker CPU ms", "DB CPU ms",
             "p50 ms"]  # fmt: skip
    lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    for name, row in results.items():
        for server, r in row.items():
            cells = [name, server, fmt(r["rps"], ",.1f"), fmt(r["ratio"], ".3f"),
                     fmt(r["ratio_paired"], ".3f"), fmt(r["worker_cpu_ms"], ".2f"),
                     fmt(r["db_cpu_ms"], ".2f"),
                     fmt(r["p50_ms"], ".1f") + ("  ERRORS" if r["errors"] else "")]  # fmt: skip
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def commit() -> str | None:
    """The measured tree's commit (a `+` after it when files differ from it), or None."""
    head = git("rev-parse", "HEAD", check=False)
    if head.returncode != 0:
        return None
    dirty = git("status", "--porcelain", "--untracked-files=no", check=False).stdout.strip()
    return head.stdout.strip() + ("+" if dirty else "")


def database_settings() -> dict[str, str]:
    """The PostgreSQL settings that decide what a commit waits for (the audited layers' and
    the app's answers wait for theirs)."""
    from django.db import connection

    names = ["synchronous_commit", "fsync", "wal_sync_method", "commit_delay", "server_version"]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name, setting FROM pg_settings WHERE name = ANY(%s) ORDER BY name", [names]
        )
        found = dict(cursor.fetchall())
    connection.close()
    return found


def main(argv: list[str] | None = None) -> dict:
    args = options(argv)
    log, started, info, url, env = begin()
    state = prepare(args, url, log)
    logs = Path(tempfile.mkdtemp(prefix="bench-layers-logs-"))
    servers: dict = {}
    with cache_for(args.cache, logs) as cache_env:
        try:
            for name in SERVERS:
                extra = {"BENCH_LAYER": name} if name in LAYERS else {}
                servers[name] = procs.start_gunicorn(
                    name, MODULES[name], {**env, **cache_env, **extra}, logs
                )
            for server in servers.values():
                procs.wait_until_up(server, int(env.get("GUNICORN_WORKERS", "2")))
            log(f"{len(servers)} gunicorns up (logs in {logs}); smoke requests")
            for op in args.ops:
                smoke(servers, op, state)
            runs = drive(servers, args, state, log)
        finally:
            for server in servers.values():
                server.stop()
    results = summarise(args.ops, runs)
    database = database_settings()
    failed = [f"{op}/{server}" for op, row in results.items() for server, r in row.items()
              if r["errors"]]  # fmt: skip
    info["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    output = {
        **results,
        "machine": info,
        "settings": {
            "tenants": args.tenants,
            "rounds": args.rounds,
            "seconds_per_run": args.duration,
            "cache": CACHES[args.cache],
            "wrk": "wrk -t2 -c8 --timeout 30s, bench/wrk/ops.lua",
        },
        "commit": commit(),
        "database_settings": database,
        "failed": failed,
        "total_seconds": round(time.monotonic() - started, 1),
    }
    args.output.write_text(json.dumps(output, indent=2) + "\n")
    print(table(results), flush=True)
    log(f"wrote {args.output}")
    if failed:
        log(f"FAILED (non-2xx or socket errors): {', '.join(failed)}; logs kept in {logs}")
        sys.exit(1)
    if not args.keep_logs:
        shutil.rmtree(logs, ignore_errors=True)
    return output


if __name__ == "__main__":
    main()
