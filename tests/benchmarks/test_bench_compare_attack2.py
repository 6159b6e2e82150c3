"""Second outsider's attack on `make bench-compare` (bench/compare.py, procs' database CPU),
after d64137c. Each test failed on that code, and passes since the fix of its kind; each
asserts an outcome: `git worktree list`, a CPU figure of procs against what the database
really spent, an exit code.

Throw-away databases are made and dropped on the tests' PostgreSQL server (DATABASE_URL's);
worktrees are made under the test's tmp_path and removed whatever happens."""

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from bench import compare, floor_sql, procs, seed
from tests.benchmarks.harness import ROOT, base_commit, bench_env, git, need_wrk, worktrees

pytestmark = pytest.mark.postgres
USER = urlsplit(os.environ.get("DATABASE_URL", "")).username or ""


def _url(database: str) -> str:
    return urlunsplit(urlsplit(os.environ["DATABASE_URL"])._replace(path=f"/{database}"))


@contextlib.contextmanager
def _throwaway_database(name: str):
    """A fresh database `name` on the tests' server, dropped afterwards; yields its URL."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(_url("postgres"), autocommit=True) as maintenance:
        seed.drop_database(maintenance, name)
        maintenance.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield _url(name).replace(name, name.replace(" ", "%20"))
    finally:
        with psycopg.connect(_url("postgres"), autocommit=True) as maintenance:
            # An autovacuum worker may be in it: the CI rehearsal's drop failed once so.
            seed.drop_database(maintenance, name)


def _remove_worktree(tree: Path) -> None:
    subprocess.run(
        ["git", "worktree", "remove", "--force", str(tree)],  # noqa: S607
        cwd=ROOT,
        check=False,
        capture_output=True,
    )


# 1. remove_abandoned_worktrees ends with `git worktree prune`: every worktree of the
#    repository whose folder is missing at that moment loses its administrative entry, bench
#    worktree or not: one the developer moved by hand (git's answer: `git worktree repair`),
#    one on a drive not mounted right now. After a bench run, that worktree is no longer
#    one: its `.git` file points to nothing, `git worktree repair` cannot bring it back, its
#    branch no longer counts as checked out.


def test_removing_abandoned_bench_worktrees_leaves_the_developers_worktrees_alone(tmp_path):
    tree = tmp_path / "feature-x"
    moved = tmp_path / "feature-x-moved"
    git("worktree", "add", "--detach", "--quiet", str(tree), "HEAD")
    try:
        tree.rename(moved)  # moved by hand, to be repaired (or its drive unmounted)
        assert str(tree) in worktrees()

        compare.remove_abandoned_worktrees()  # what every bench-compare run does first

        assert str(tree) in worktrees(), (
            "a bench-compare run pruned a worktree that is not the bench's (its folder was "
            "only missing): it can no longer be repaired"
        )
    finally:
        if moved.exists() and not tree.exists():
            moved.rename(tree)
        _remove_worktree(tree)


# 2. A killed run's worktree counted as "a run still going" as long as any process had its
#    pid: pids are reused, and a zombie keeps its /proc entry. Now a live run holds a lock on
#    its OWNER_FILE (compare.owned), which the kernel drops when the run dies: an unrelated
#    process under the dead run's pid holds nothing.


def test_a_killed_runs_worktree_is_removed_though_its_pid_now_names_another_process(tmp_path):
    parent = tmp_path / f"{compare.WORKTREE_PREFIX}killed"
    parent.mkdir()
    tree = parent / "tree"
    unrelated = subprocess.Popen(["sleep", "120"])  # noqa: S607 (the killed run's pid, reused)
    try:
        (parent / compare.OWNER_FILE).write_text(str(unrelated.pid))  # as a dead run left it
        git("worktree", "add", "--detach", "--quiet", str(tree), "HEAD")

        removed = compare.remove_abandoned_worktrees()

        assert tree in removed and str(tree) not in worktrees(), (
            "the worktree of a dead run is kept because its pid now belongs to `sleep`"
        )
    finally:
        unrelated.kill()
        unrelated.wait()
        _remove_worktree(tree)


# 3. A query with a parallel plan runs partly in parallel workers, whose titles are
#    "postgres: 15/main: parallel worker for PID <leader>": no database, no address. Their CPU
#    is not counted, so the database CPU of a side whose queries go parallel (any scan of a
#    table over min_parallel_table_scan_size, 8 MB) falls by the workers' share: a change
#    that makes a query parallel shows as less database CPU while the database does as much.


def test_database_cpu_counts_the_parallel_workers_of_the_databases_queries():
    name = "registry_bench_attack2_parallel"
    import psycopg

    with _throwaway_database(name) as url, psycopg.connect(url, autocommit=True) as connection:
        connection.execute("CREATE TABLE t AS SELECT i FROM generate_series(1, 2000000) i")
        connection.execute("ANALYZE t")
        query = "SELECT count(*) FROM t WHERE md5(i::text) LIKE 'ab%'"

        def measured(parallel: bool) -> int:
            if parallel:
                connection.execute("SET max_parallel_workers_per_gather = 2")
                connection.execute("SET parallel_setup_cost = 0")
                connection.execute("SET parallel_tuple_cost = 0")
            else:
                connection.execute("SET max_parallel_workers_per_gather = 0")
            plan = "\n".join(row[0] for row in connection.execute("EXPLAIN " + query))
            assert ("Gather" in plan) == parallel, plan
            with procs.DatabaseCpu(name, USER) as spent:
                connection.execute(query).fetchone()
            return spent.ticks

        serial = measured(parallel=False)
        parallel = measured(parallel=True)

    assert serial >= 30, f"the query is meant to take a measurable CPU time ({serial} ticks)"
    # The same work, split over a leader and 2 workers: about as many ticks in all.
    assert parallel >= 0.7 * serial, (
        f"the same query counted {serial} ticks run alone and {parallel} run in parallel: "
        "the parallel workers' CPU is not in the database's figure"
    )


# 4. "Connections are kept for the whole run, so that none takes its time away": not when
#    gunicorn recycles a worker (max_requests, 20,000 + up to 2,000 of jitter in
#    config/gunicorn.conf.py; a default run sends each side ~60,000 requests over 2 workers,
#    so each of them is recycled in the run). The recycled worker's connections close, their
#    backends exit, and everything they spent in that wrk run is dropped from its database
#    CPU (procs.ticks_spent only sees the backends alive at the end). Here max_requests is
#    100 so that a 3 s run recycles workers; a sampler follows the backends meanwhile.
#    The first fix (a reading every 50 ms, an exited backend's time kept as last seen) failed
#    here in CI: 208 of 284 ticks, the backends living a few hundred ms and the work of their
#    last 50 ms lost. Now what no reading saw comes from the postmaster's reaped time, and the
#    figure must lie between what a sampler saw and the whole cluster's CPU over the run.


def _cluster_ticks(postmaster: int) -> int:
    """The CPU ticks of a PostgreSQL cluster so far: its postmaster's, its live children's
    and its reaped children's; read again when a child is reaped during the reading."""
    while True:
        reaped = procs._reaped_ticks(postmaster)
        children = [
            pid for pid in procs._postgres_titles({}) if procs._parent_pid(pid) == postmaster
        ]
        total = procs._stat_ticks(postmaster, children_too=True)
        total += sum(procs._ticks_of(children).values())
        if procs._reaped_ticks(postmaster) == reaped:
            return total


def test_database_cpu_keeps_the_time_of_backends_whose_worker_was_recycled(tmp_path):
    need_wrk()
    import psycopg

    name = "registry_bench_attack2_recycle"
    with _throwaway_database(name) as url:
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute(floor_sql.CREATE_TABLE)
            connection.execute(  # 5 tenants x 1,000 rows: a list costs the database ~ms
                "INSERT INTO bench_floor (tenant, ident, provider, data) "
                "SELECT 't' || lpad((i % 5 + 1)::text, 6, '0'), 'x' || i, 'twilio', "
                "'{\"a\": 1}' FROM generate_series(1, 5000) i"
            )
        env = {
            "PATH": os.environ["PATH"],
            "HOME": str(tmp_path),
            "ENV_FILE": "/dev/null",
            "DATABASE_URL": url,
            "BENCH_FLOOR_DATABASE_URL": url,  # one connection per thread, kept
            "GUNICORN_MAX_REQUESTS": "100",
        }
        server = procs.start_gunicorn("floor", "bench.floor_wsgi", env, tmp_path)
        # An idle backend of the database throughout: the snapshots always find one.
        idle = psycopg.connect(url, autocommit=True)
        postmaster = procs._parent_pid(idle.info.backend_pid)
        try:
            procs.wait_until_up(server, 2)
            last_seen: dict[int, int] = {}
            stop = threading.Event()

            def follow():
                while not stop.is_set():
                    for pid, ticks in (procs.database_processes(name, USER) or {}).items():
                        last_seen[pid] = max(last_seen.get(pid, 0), ticks)
                    time.sleep(0.02)

            before = procs.database_processes(name, USER) or {}
            cluster_before = _cluster_ticks(postmaster)
            sampler = threading.Thread(target=follow)
            sampler.start()
            try:
                run = procs.wrk(
                    server,
                    method="GET",
                    path="/1.0/tenants/{tenant}/integrations",
                    body="",
                    tenants=5,
                    prefix="x",
                    auth="",
                    seconds=3,
                )
            finally:
                stop.set()
                sampler.join()
            after = procs.database_processes(name, USER) or {}
            cluster = _cluster_ticks(postmaster) - cluster_before
        finally:
            idle.close()
            server.stop()

    assert run["requests"] > 0 and run["non2xx"] == 0, run
    assert run["db_cpu_ms_per_request"] is not None, "measured: the database is on this machine"
    counted = run["db_cpu_ms_per_request"] * run["requests"] / 1000 * procs.TICKS
    # What the sampler saw the database's backends spend, the recycled workers' ones (gone
    # before the end) included: the run's figure must hold (nearly) all of it.
    seen = sum(ticks - before.get(pid, 0) for pid, ticks in last_seen.items())
    gone = sum(ticks - before.get(pid, 0) for pid, ticks in last_seen.items() if pid not in after)
    assert gone > 0, "workers were recycled during the run: their backends exited"
    # (One tick of slack above: the figure is ms per request, a float, times the requests.)
    assert 0.9 * seen <= counted <= cluster + 1, (
        f"the run's database CPU counts {counted:.0f} ticks; a sampler saw its backends spend "
        f"{seen} (those of recycled workers {gone}), and the whole cluster spent {cluster}"
    )


# 5. The process-title parser splits on blanks and takes the word before the address as the
#    database: a backend of the database "other registry_bench_..." (PostgreSQL allows blanks
#    in names) is counted as one of "registry_bench_..."'s.


def test_database_cpu_does_not_count_a_database_whose_name_ends_with_the_benchs():
    import psycopg

    bench = "registry_bench_attack2_target"
    other = f"other {bench}"
    with _throwaway_database(other) as url, psycopg.connect(url, autocommit=True) as connection:
        pid = connection.execute("SELECT pg_backend_pid()").fetchone()[0]
        connection.execute("SELECT count(*) FROM generate_series(1, 100000)").fetchone()

        found = procs.database_processes(bench, USER) or {}

    assert pid not in found, (
        f"the backend of database {other!r} is counted as one of {bench!r}'s: {found}"
    )


# 6. bench/calls.py's warm-up (CALLS_WARM_UP = 20 requests per operation) throws its statuses
#    away, while the wrk warm-up's failures fail the run (ab6a79e). A revision whose first
#    requests in a process fail (a lazy initialisation that breaks, a cold cache that
#    answers 500) passes for clean, exit 0, "non2xx": 0, in exactly the step that hides it.

COLD_START_FAILS = """

# attack: in process (not under gunicorn), this revision's first 20 requests answer 500
import itertools as _itertools

_wrapped = application
_calls = _itertools.count(1)


def application(environ, start_response):
    if "gunicorn" not in environ.get("SERVER_SOFTWARE", "") and next(_calls) <= 20:
        start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
        return [b"cold start"]
    return _wrapped(environ, start_response)
"""


def test_failures_in_the_in_process_warm_up_fail_the_run(tmp_path):
    need_wrk()
    wsgi = git("show", "HEAD:config/wsgi.py")
    base = base_commit(tmp_path, {"config/wsgi.py": wsgi + COLD_START_FAILS})
    output = tmp_path / "compare.json"
    known = worktrees()

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.compare",
            "--base",
            base,
            "--tenants",
            "20",
            "--rounds",
            "1",
            "--duration",
            "1",
            "--ops",
            "get_one",
            "--calls-requests",
            "10",
            "--calls-rounds",
            "1",
            "--output",
            str(output),
        ],
        cwd=ROOT,
        env=bench_env("registry_bench_attack2", TMPDIR=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert worktrees() == known
    assert output.exists(), result.stdout[-2000:] + result.stderr[-2000:]
    get_one = json.loads(output.read_text())["results"]["get_one"]
    assert result.returncode != 0, (
        "BASE answered 500 to its first 20 requests in process, and the run exits 0 with "
        f"non2xx {get_one['non2xx']}:\n{result.stdout[-1500:]}"
    )
